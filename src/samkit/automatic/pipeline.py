"""The model-independent part of automatic mask generation, shared by SAM 1 and SAM 2.

  per crop:   `_open_crop` (model-specific) encodes the crop and returns a `CropDecoder`
  per batch:  CropDecoder.decode: grid points -> predicted IoU, filter, low-res logits of survivors
              -> stability, box and area at full resolution, streamed, never stored
              -> stability filter, crop-edge filter
  per crop:   box NMS (IoU-sorted) -> full-res binary masks of the survivors -> COCO RLE
  per image:  NMS across crops (smaller crops win) -> optional hole/island removal + NMS

A model plugs in by subclassing `MaskPipeline` and implementing `_open_crop`; everything a decoder
hands back is in the crop's frame (pixels of the cropped image) and low resolution.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from samkit.automatic.crops import CropBox, generate_crop_boxes, is_box_near_crop_edge
from samkit.automatic.fullres import FullResProjector, masks_to_boxes_xyxy
from samkit.automatic.grid import build_all_layer_point_grids
from samkit.automatic.nms import box_area, nms
from samkit.automatic.records import OUTPUT_MODES, MaskRecord
from samkit.automatic.rle import encode_coco_rle
from samkit.automatic.small_regions import remove_small_regions


@dataclass
class DecodedBatch:
    """What a decoder returns for P grid points with M masks each (K masks passed the IoU filter)."""

    keep: torch.Tensor  # P*M bool, point-major: which masks passed the predicted-IoU filter
    iou_pred: torch.Tensor  # K predicted IoU of the kept masks
    low_res: torch.Tensor  # K x h' x w' logits, cut by projector.crop_low_res
    masks_per_point: int  # M


class CropDecoder(ABC):
    """Model-specific: one encoded crop; turns batches of grid points into low-res masks.

    projector maps the decoder's low-res logits to the crop's frame; masks are logits > mask_threshold;
    points_dtype is the dtype the model's reference keeps point coordinates in (they reach the records).
    """

    projector: FullResProjector
    mask_threshold: float
    points_dtype: torch.dtype = torch.float64

    @abstractmethod
    def decode(self, points_xy: np.ndarray, pred_iou_thresh: float) -> DecodedBatch:
        """points_xy: P x 2 float64 grid points in crop pixels. Masks with predicted IoU
        <= pred_iou_thresh are dropped (no filtering when it is <= 0)."""

    def close(self) -> None:
        """Release the crop's features."""


@dataclass
class _Candidates:
    """Masks of one crop that passed the per-batch filters (K of them, crop frame)."""

    low_res: torch.Tensor  # K x h' x w' low-res logits (cropped to the part that maps to the image)
    iou_pred: torch.Tensor  # K
    stability: torch.Tensor  # K
    boxes_xyxy: torch.Tensor  # K x 4 int64, crop frame, inclusive edges
    areas: torch.Tensor  # K
    points_xy: torch.Tensor  # K x 2 (CropDecoder.points_dtype), crop frame


def checked_point_grids(points_per_side: int | None, point_grids: list | None, crop_n_layers: int,
                        crop_n_points_downscale_factor: int, points_per_batch: int,
                        output_mode: str) -> list[np.ndarray]:
    """The constructor arguments both generators share, checked (InputError naming the problem);
    returns one N_i x 2 grid in [0, 1] per crop layer."""
    from samkit.errors import InputError

    if (points_per_side is None) == (point_grids is None):
        raise InputError("exactly one of points_per_side or point_grids must be given")
    if output_mode not in OUTPUT_MODES:
        raise InputError(f"unknown output_mode {output_mode!r}; expected one of {list(OUTPUT_MODES)}")
    if points_per_batch < 1:
        raise InputError(f"points_per_batch must be >= 1, got {points_per_batch}")
    if points_per_side is not None:
        return build_all_layer_point_grids(points_per_side, crop_n_layers, crop_n_points_downscale_factor)
    grids = [np.asarray(g, dtype=np.float64).reshape(-1, 2) for g in point_grids]
    if len(grids) < crop_n_layers + 1:
        raise InputError(f"point_grids has {len(grids)} grids but crop_n_layers={crop_n_layers} "
                         f"needs {crop_n_layers + 1} (one per layer)")
    return grids


class MaskPipeline(ABC):
    """Grid prompts -> filtered, de-duplicated mask records. Subclasses set the attributes below in
    their constructor and implement `_open_crop`.

    point_grids (one N_i x 2 array in [0, 1] per crop layer), points_per_batch, pred_iou_thresh,
    stability_score_thresh, stability_score_offset, box_nms_thresh, crop_n_layers, crop_nms_thresh,
    crop_overlap_ratio, min_mask_region_area, output_mode.
    """

    # segment_anything fills holes / drops islands of the final masks when min_mask_region_area > 0;
    # SAM 2 instead cleans the low-res logits in its decoder and skips this step.
    remove_small_regions_at_end = True

    @abstractmethod
    def _open_crop(self, crop_image: np.ndarray) -> CropDecoder:
        """Encode an h x w x 3 uint8 crop of the image (the whole image for layer 0)."""

    def _check_image(self, image: np.ndarray) -> np.ndarray:
        from samkit.inference.predictor import check_image

        return check_image(image)

    # ------------------------------------------------------------------ public
    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """H x W x 3 uint8 RGB image -> segment_anything's list of record dicts
        (segmentation, area, bbox, predicted_iou, point_coords, stability_score, crop_box)."""
        return [r.to_dict(self.output_mode) for r in self.generate_records(image)]

    @torch.no_grad()
    def generate_records(self, image: np.ndarray) -> list[MaskRecord]:
        """H x W x 3 uint8 RGB image -> typed MaskRecords, best first (same order as generate)."""
        image = self._check_image(image)
        self.timings = {"encoder": 0.0, "decoder": 0.0, "postprocess": 0.0}
        orig_hw = (int(image.shape[0]), int(image.shape[1]))
        crops = generate_crop_boxes(orig_hw, self.crop_n_layers, self.crop_overlap_ratio)
        records: list[MaskRecord] = []
        for crop in crops:
            records.extend(self._process_crop(image, crop, orig_hw))
        t0 = _now()
        if len(crops) > 1 and records:
            # Across crops, prefer masks from smaller crops (score 1 / crop area).
            crop_boxes = torch.tensor([_xywh_to_xyxy(r.crop_box_xywh) for r in records])
            scores = 1 / box_area(crop_boxes)
            boxes = torch.tensor([_xywh_to_xyxy(r.bbox_xywh) for r in records])
            records = [records[i] for i in nms(boxes.float(), scores, self.crop_nms_thresh).tolist()]
        if self.remove_small_regions_at_end and self.min_mask_region_area > 0 and records:
            records = self._remove_small_regions(records)
        self.timings["postprocess"] += _now() - t0
        return records

    # ------------------------------------------------------------------ per crop
    def _process_crop(self, image: np.ndarray, crop: CropBox, orig_hw: tuple[int, int]) -> list[MaskRecord]:
        x0, y0, x1, y1 = crop.box_xyxy
        t0 = _now()
        decoder = self._open_crop(np.ascontiguousarray(image[y0:y1, x0:x1, :]))
        self.timings["encoder"] += _now() - t0
        points_xy = self.point_grids[crop.layer] * np.array(crop.hw)[None, ::-1]
        parts = [self._process_batch(decoder, points_xy[s : s + self.points_per_batch], crop, orig_hw)
                 for s in range(0, len(points_xy), self.points_per_batch)]
        decoder.close()
        t0 = _now()
        cand = _cat_candidates(parts)
        keep = nms(cand.boxes_xyxy.float(), cand.iou_pred, self.box_nms_thresh)
        records = self._make_records(cand, keep, decoder.projector, crop, orig_hw, decoder.mask_threshold)
        self.timings["postprocess"] += _now() - t0
        return records

    def _process_batch(self, decoder: CropDecoder, points_xy: np.ndarray, crop: CropBox, orig_hw) -> _Candidates:
        t0 = _now()
        out = decoder.decode(points_xy, self.pred_iou_thresh)
        t1 = _now()
        self.timings["decoder"] += t1 - t0
        low, device = out.low_res, out.low_res.device
        pts = torch.as_tensor(points_xy, dtype=torch.float64).to(decoder.points_dtype)
        pts = pts.repeat_interleave(out.masks_per_point, dim=0)[out.keep.cpu()]
        st = decoder.projector.stats(low, decoder.mask_threshold, self.stability_score_offset,
                                     self.stability_score_thresh)
        sel = torch.ones(low.shape[0], dtype=torch.bool, device=device)
        if self.stability_score_thresh > 0.0:
            sel &= st.stability >= self.stability_score_thresh
        ox, oy = crop.offset_xy
        boxes_img = st.boxes_xyxy + torch.tensor([ox, oy, ox, oy], device=device)
        sel &= ~is_box_near_crop_edge(boxes_img, crop.box_xyxy, (0, 0, orig_hw[1], orig_hw[0]))
        self.timings["postprocess"] += _now() - t1
        return _Candidates(low[sel], out.iou_pred[sel], st.stability[sel], st.boxes_xyxy[sel], st.areas[sel],
                           pts[sel.cpu()])

    def _make_records(self, cand: _Candidates, keep: torch.Tensor, projector: FullResProjector, crop: CropBox,
                      orig_hw: tuple[int, int], mask_threshold: float) -> list[MaskRecord]:
        """COCO RLE in the image frame for the NMS survivors (in NMS order)."""
        ox, oy = crop.offset_xy
        ch, cw = crop.hw
        full_frame = (ox, oy, cw, ch) == (0, 0, orig_hw[1], orig_hw[0])
        # Points move to the image frame in their own dtype, as the references add the offset.
        points_img = cand.points_xy + torch.tensor([ox, oy], dtype=cand.points_xy.dtype)
        records: list[MaskRecord] = []
        low = cand.low_res[keep]
        for start, masks in projector.binary_masks(low, mask_threshold):
            masks_np = masks.cpu().numpy()
            for j in range(masks_np.shape[0]):
                i = int(keep[start + j])
                m = masks_np[j]
                if not full_frame:
                    padded = np.zeros(orig_hw, dtype=bool)
                    padded[oy : oy + ch, ox : ox + cw] = m
                    m = padded
                x0b, y0b, x1b, y1b = (int(v) for v in cand.boxes_xyxy[i].tolist())
                box = [x0b + ox, y0b + oy, x1b - x0b, y1b - y0b]
                px, py = (float(v) for v in points_img[i].tolist())
                records.append(MaskRecord(
                    segmentation=encode_coco_rle(m), area=int(cand.areas[i]), bbox_xywh=box,
                    predicted_iou=float(cand.iou_pred[i]), point_xy=(px, py),
                    stability_score=float(cand.stability[i]), crop_box_xywh=crop.box_xywh,
                ))
        return records

    # ------------------------------------------------------------------ postprocessing
    def _remove_small_regions(self, records: list[MaskRecord]) -> list[MaskRecord]:
        """Fill small holes, drop small islands, then NMS again preferring unchanged masks."""
        new_masks, scores = [], []
        for r in records:
            m, changed_h = remove_small_regions(r.mask(), self.min_mask_region_area, "holes")
            m, changed_i = remove_small_regions(m, self.min_mask_region_area, "islands")
            new_masks.append(m)
            scores.append(0.0 if (changed_h or changed_i) else 1.0)
        boxes = masks_to_boxes_xyxy(torch.as_tensor(np.stack(new_masks)))
        keep = nms(boxes.float(), torch.tensor(scores), max(self.box_nms_thresh, self.crop_nms_thresh))
        out = []
        for i in keep.tolist():
            r = records[i]
            if scores[i] == 0.0:
                x0, y0, x1, y1 = boxes[i].tolist()
                r = MaskRecord(encode_coco_rle(new_masks[i]), int(new_masks[i].sum()), [x0, y0, x1 - x0, y1 - y0],
                               r.predicted_iou, r.point_xy, r.stability_score, r.crop_box_xywh)
            out.append(r)
        return out


def _cat_candidates(parts: list[_Candidates]) -> _Candidates:
    return _Candidates(*(torch.cat([getattr(p, f) for p in parts]) for f in _Candidates.__dataclass_fields__))


def _xywh_to_xyxy(b: list[int]) -> list[int]:
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def _now() -> float:
    import time

    return time.perf_counter()
