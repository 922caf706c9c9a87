"""Low-res mask logits -> logits at the original image size, only for masks that need it.

SAM's `postprocess_masks` upsamples 4h x 4w logits bilinearly to the padded model input
(img_size x img_size), crops the valid input_hw, and resizes bilinearly to orig_hw. Both steps are
separable linear maps, so per axis their composition is one small matrix whose rows have at most
three non-zero taps. `FullResProjector` applies that composition by gathering taps: a mask costs a
few passes over H x W instead of two full bilinear resamplings through a 1024 x 1024 intermediate.
The weights are taken from `F.interpolate` itself (applied to an identity), so they are the ones
PyTorch uses; results agree with `postprocess_masks` to float32 rounding.

`stats()` reduces each mask to what filtering and NMS need (stability counts, box, area) without
keeping the H x W logits; `binary_masks()` rebuilds the masks of the few survivors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_MAX_TAPS = 3


def _axis_taps(low_len: int, model_len: int, valid_len: int, out_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(out_len, taps) int64 indices into the low-res axis and float32 weights, composing
    linear(low_len -> model_len), crop [:valid_len], linear(valid_len -> out_len)."""
    # float32 identities: PyTorch computes source positions in the input's dtype, and the
    # reference resamples float32 logits, so these are its exact weights.
    eye = torch.eye(low_len, dtype=torch.float32).unsqueeze(1)  # low x 1 x low
    up = F.interpolate(eye, size=model_len, mode="linear", align_corners=False)[:, 0, :valid_len]
    eye2 = torch.eye(valid_len, dtype=torch.float32).unsqueeze(1)
    down = F.interpolate(eye2, size=out_len, mode="linear", align_corners=False)[:, 0, :]
    comp = (up.double() @ down.double()).T  # out_len x low_len, rows sum to 1
    idx = torch.zeros(out_len, _MAX_TAPS, dtype=torch.int64)
    wts = torch.zeros(out_len, _MAX_TAPS, dtype=torch.float64)
    nz_rows, nz_cols = torch.nonzero(comp, as_tuple=True)
    counts = torch.bincount(nz_rows, minlength=out_len)
    if int(counts.max()) > _MAX_TAPS:
        raise AssertionError("bilinear composition with more than 3 taps per axis")
    first = torch.cumsum(counts, 0) - counts
    slot = torch.arange(nz_rows.numel()) - first[nz_rows]
    idx[nz_rows, slot] = nz_cols
    wts[nz_rows, slot] = comp[nz_rows, nz_cols]
    return idx, wts.float()


@dataclass
class MaskStats:
    """Per-mask reductions of the full-resolution logits (K masks, original-image frame)."""

    stability: torch.Tensor  # K float32: |logits > t+o| / |logits > t-o|
    boxes_xyxy: torch.Tensor  # K x 4 int64, inclusive edges; [0,0,0,0] for an empty mask
    areas: torch.Tensor  # K int64: |logits > t|


class FullResProjector:
    """Maps 4h x 4w low-res logits of one image (or crop) to its orig_hw frame.

    low_hw: decoder output size (256 x 256); img_size: model input side (1024);
    input_hw: resized image inside the padded input; orig_hw: original (crop) size.
    img_size None (input_hw ignored): the logits are resized straight to orig_hw, as SAM 2 does
    (its input is the image squashed to a square, with no padding). That is one bilinear resize, so
    it runs through `F.interpolate` itself (the reference's call, ~10x faster than gathering taps).
    """

    def __init__(self, low_hw: tuple[int, int], img_size: int | None, input_hw: tuple[int, int] | None,
                 orig_hw: tuple[int, int], device: torch.device | str = "cpu", budget_bytes: int = 256 << 20):
        self.orig_hw = (int(orig_hw[0]), int(orig_hw[1]))
        self.direct = img_size is None
        self.chunk = max(1, budget_bytes // (4 * 3 * self.orig_hw[0] * self.orig_hw[1]))
        if self.direct:  # F.interpolate reads the whole low-res grid
            self.needed_hw = (int(low_hw[0]), int(low_hw[1]))
            return
        iy, wy = _axis_taps(low_hw[0], img_size, int(input_hw[0]), self.orig_hw[0])
        ix, wx = _axis_taps(low_hw[1], img_size, int(input_hw[1]), self.orig_hw[1])
        self._iy, self._wy = iy.to(device), wy.to(device)
        self._ix, self._wx = ix.to(device), wx.to(device)
        # Only this top-left part of the low-res logits is ever read (the rest is padding).
        self.needed_hw = (int(iy.max()) + 1, int(ix.max()) + 1)

    def crop_low_res(self, low_res: torch.Tensor) -> torch.Tensor:
        """K x 4h x 4w -> K x needed_h x needed_w (contiguous), enough for everything below."""
        return low_res[:, : self.needed_hw[0], : self.needed_hw[1]].contiguous()

    def logits(self, low_res: torch.Tensor) -> torch.Tensor:
        """K x h' x w' low-res logits (full or cropped by crop_low_res) -> K x H x W float32 logits."""
        low = low_res.float()
        if self.direct:
            return F.interpolate(low[:, None], self.orig_hw, mode="bilinear", align_corners=False)[:, 0]
        cols = low.index_select(2, self._ix[:, 0]).mul_(self._wx[:, 0])
        for k in range(1, _MAX_TAPS):
            cols.addcmul_(low.index_select(2, self._ix[:, k]), self._wx[:, k])
        out = cols.index_select(1, self._iy[:, 0]).mul_(self._wy[:, 0, None])
        for k in range(1, _MAX_TAPS):
            out.addcmul_(cols.index_select(1, self._iy[:, k]), self._wy[:, k, None])
        return out

    def stats(self, low_res: torch.Tensor, mask_threshold: float, stability_offset: float,
              stability_min: float = 0.0) -> MaskStats:
        """Stability score, box and area of each mask at full resolution, in chunks of masks.
        stability_min > 0: box and area only for masks with stability >= stability_min (the others,
        which the caller drops, get a zero box and area), as the references threshold and box only
        the masks that pass the stability filter."""
        stab, boxes, areas = [], [], []
        for start in range(0, low_res.shape[0], self.chunk):
            full = self.logits(low_res[start : start + self.chunk])
            inter = (full > mask_threshold + stability_offset).sum((1, 2), dtype=torch.int32)
            union = (full > mask_threshold - stability_offset).sum((1, 2), dtype=torch.int32)
            s = inter / union
            stab.append(s)
            box = torch.zeros(full.shape[0], 4, dtype=torch.int64, device=full.device)
            area = torch.zeros(full.shape[0], dtype=torch.int64, device=full.device)
            sel = s >= stability_min if stability_min > 0.0 else None
            if sel is not None and not bool(sel.all()):
                full = full[sel]
            if full.shape[0]:
                binary = full > mask_threshold
                del full
                a, b = binary.sum((1, 2)), masks_to_boxes_xyxy(binary)
                if sel is None or a.shape[0] == sel.shape[0]:
                    area, box = a, b
                else:
                    area[sel], box[sel] = a, b
            areas.append(area)
            boxes.append(box)
        if not stab:
            dev = low_res.device
            return MaskStats(torch.empty(0, device=dev), torch.empty(0, 4, dtype=torch.int64, device=dev),
                             torch.empty(0, dtype=torch.int64, device=dev))
        return MaskStats(torch.cat(stab), torch.cat(boxes), torch.cat(areas))

    def binary_masks(self, low_res: torch.Tensor, mask_threshold: float):
        """Yield (start index, k x H x W bool masks) chunk by chunk."""
        for start in range(0, low_res.shape[0], self.chunk):
            yield start, self.logits(low_res[start : start + self.chunk]) > mask_threshold


def masks_to_boxes_xyxy(masks: torch.Tensor) -> torch.Tensor:
    """K x H x W bool -> K x 4 int64 [left, top, right, bottom] with inclusive right/bottom pixel
    indices (segment_anything's convention); an empty mask gives [0, 0, 0, 0]."""
    k, h, w = masks.shape
    if k == 0:
        return torch.zeros(0, 4, dtype=torch.int64, device=masks.device)
    rows = masks.any(dim=2)  # K x H
    cols = masks.any(dim=1)  # K x W
    nonempty = rows.any(dim=1)
    top = torch.argmax(rows.to(torch.uint8), dim=1)
    bottom = h - 1 - torch.argmax(rows.flip(1).to(torch.uint8), dim=1)
    left = torch.argmax(cols.to(torch.uint8), dim=1)
    right = w - 1 - torch.argmax(cols.flip(1).to(torch.uint8), dim=1)
    boxes = torch.stack([left, top, right, bottom], dim=1)
    return boxes * nonempty[:, None]
