"""SamAutomaticMaskGenerator: "segment everything" with a grid of point prompts.

Drop-in for segment_anything's class (same constructor arguments, defaults and records) and
produces the same masks, but does much less work (see point_decoder.py and fullres.py):

  per crop:   encode the crop once
  per batch:  decoder transformer for all points (image side shared, no per-prompt copies)
              -> predicted-IoU filter (no mask needed)
              -> low-res masks only for the survivors (4h x 4w logits)
              -> stability, box and area at full resolution, streamed, never stored
              -> stability filter, crop-edge filter
  per crop:   box NMS (IoU-sorted) -> full-res binary masks of the survivors -> COCO RLE
  per image:  NMS across crops (smaller crops win) -> optional hole/island removal + NMS

Everything is vectorised over masks except RLE encoding and OpenCV's connected components, which
are per mask by nature and only run on the few final masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from samkit.automatic.crops import CropBox, generate_crop_boxes, is_box_near_crop_edge
from samkit.automatic.fullres import FullResProjector, masks_to_boxes_xyxy
from samkit.automatic.grid import build_all_layer_point_grids
from samkit.automatic.nms import box_area, nms
from samkit.inference.point_decoder import PointBatchDecoder
from samkit.automatic.records import OUTPUT_MODES, MaskRecord
from samkit.automatic.rle import encode_coco_rle
from samkit.automatic.small_regions import remove_small_regions
from samkit.errors import InputError


@dataclass
class _Candidates:
    """Masks of one crop that passed the per-batch filters (K of them, crop frame)."""

    low_res: torch.Tensor  # K x h' x w' low-res logits (cropped to the part that maps to the image)
    iou_pred: torch.Tensor  # K
    stability: torch.Tensor  # K
    boxes_xyxy: torch.Tensor  # K x 4 int64, crop frame, inclusive edges
    areas: torch.Tensor  # K
    points_xy: torch.Tensor  # K x 2 float64, crop frame


# segment_anything's thresholds, tuned for the official checkpoints' calibrated IoU predictions.
SAM_AMG_DEFAULTS = {"pred_iou_thresh": 0.88, "stability_score_thresh": 0.95}


class SamAutomaticMaskGenerator:
    def __init__(
        self,
        model,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float | None = None,
        stability_score_thresh: float | None = None,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
    ) -> None:
        """Generate masks for a whole image with a SAM model (a samkit Sam).

        points_per_side: grid points per side (points_per_side**2 prompts on the image); exclusive
            with point_grids (a list of N_i x 2 arrays in [0, 1], one per crop layer).
        points_per_batch: prompts decoded at once (memory ~ 4 MB per prompt for SAM at 1024).
        pred_iou_thresh / stability_score_thresh: keep masks above these (0 disables the filter).
            None: the model's own recommendation when its checkpoint carries one (`model.amg_defaults`,
            e.g. samkit's built-in model, whose predicted IoUs are low), else SAM's 0.88 / 0.95.
        stability_score_offset: logit offset of the stability score.
        box_nms_thresh / crop_nms_thresh: box-IoU thresholds of NMS within / across crops.
        crop_n_layers: extra crop layers; layer i has (2**i)**2 crops with
            points_per_side / crop_n_points_downscale_factor**i points per side.
        crop_overlap_ratio: overlap of first-layer crops, as a fraction of the short image side.
        min_mask_region_area: if > 0, fill holes and remove islands smaller than this (OpenCV).
        output_mode: 'binary_mask' (H x W bool), 'uncompressed_rle' or 'coco_rle'.
        """
        if (points_per_side is None) == (point_grids is None):
            raise InputError("exactly one of points_per_side or point_grids must be given")
        if output_mode not in OUTPUT_MODES:
            raise InputError(f"unknown output_mode {output_mode!r}; expected one of {list(OUTPUT_MODES)}")
        if points_per_batch < 1:
            raise InputError(f"points_per_batch must be >= 1, got {points_per_batch}")
        if points_per_side is not None:
            self.point_grids = build_all_layer_point_grids(points_per_side, crop_n_layers, crop_n_points_downscale_factor)
        else:
            self.point_grids = [np.asarray(g, dtype=np.float64).reshape(-1, 2) for g in point_grids]
            if len(self.point_grids) < crop_n_layers + 1:
                raise InputError(f"point_grids has {len(self.point_grids)} grids but crop_n_layers={crop_n_layers} "
                                 f"needs {crop_n_layers + 1} (one per layer)")
        if min_mask_region_area > 0:
            import cv2  # noqa: F401  (fail now, not after minutes of work)

        from samkit.inference.predictor import SamPredictor

        self.predictor = SamPredictor(model)
        self.points_per_batch = points_per_batch
        recommended = {**SAM_AMG_DEFAULTS, **getattr(model, "amg_defaults", {})}
        self.pred_iou_thresh = recommended["pred_iou_thresh"] if pred_iou_thresh is None else pred_iou_thresh
        self.stability_score_thresh = (recommended["stability_score_thresh"] if stability_score_thresh is None
                                       else stability_score_thresh)
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ public
    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """H x W x 3 uint8 RGB image -> segment_anything's list of record dicts
        (segmentation, area, bbox, predicted_iou, point_coords, stability_score, crop_box)."""
        return [r.to_dict(self.output_mode) for r in self.generate_records(image)]

    @torch.no_grad()
    def generate_records(self, image: np.ndarray) -> list[MaskRecord]:
        """H x W x 3 uint8 RGB image -> typed MaskRecords, best first (same order as generate)."""
        from samkit.inference.predictor import check_image

        image = check_image(image)
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
        if self.min_mask_region_area > 0 and records:
            records = self._remove_small_regions(records)
        self.timings["postprocess"] += _now() - t0
        return records

    # ------------------------------------------------------------------ per crop
    def _process_crop(self, image: np.ndarray, crop: CropBox, orig_hw: tuple[int, int]) -> list[MaskRecord]:
        x0, y0, x1, y1 = crop.box_xyxy
        t0 = _now()
        self.predictor.set_image(np.ascontiguousarray(image[y0:y1, x0:x1, :]))
        self.timings["encoder"] += _now() - t0
        model = self.predictor.model
        crop_hw = crop.hw
        points_xy = self.point_grids[crop.layer] * np.array(crop_hw)[None, ::-1]
        model_xy = self.predictor.transform.apply_coords(points_xy, crop_hw)
        features = self.predictor.features
        device = features.device
        cfg = getattr(model, "config", None)
        heads = cfg.mask_decoder.transformer_num_heads if cfg is not None else model.mask_decoder.transformer.num_heads
        decoder = PointBatchDecoder(model.mask_decoder, heads)
        pe = model.prompt_encoder.get_dense_pe()
        dense = model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand_as(features)
        side = decoder.prepare(features.float(), pe, dense)
        low_hw = (4 * side.hw[0], 4 * side.hw[1])
        projector = FullResProjector(low_hw, model.image_encoder.img_size, self.predictor.input_size, crop_hw, device)
        parts: list[_Candidates] = []
        for start in range(0, len(points_xy), self.points_per_batch):
            sl = slice(start, start + self.points_per_batch)
            parts.append(self._process_batch(decoder, side, projector, model, model_xy[sl], points_xy[sl], crop, orig_hw))
        self.predictor.reset_image()
        t0 = _now()
        cand = _cat_candidates(parts)
        keep = nms(cand.boxes_xyxy.float(), cand.iou_pred, self.box_nms_thresh)
        records = self._make_records(cand, keep, projector, crop, orig_hw, model.mask_threshold)
        self.timings["postprocess"] += _now() - t0
        return records

    def _process_batch(self, decoder: PointBatchDecoder, side, projector: FullResProjector, model,
                       model_xy: np.ndarray, points_xy: np.ndarray, crop: CropBox, orig_hw) -> _Candidates:
        t0 = _now()
        device = side.img.device
        coords = torch.as_tensor(model_xy, device=device)[:, None, :]
        labels = torch.ones(coords.shape[0], 1, dtype=torch.int, device=device)
        sparse, _ = model.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        out = decoder.transformer(side, sparse)
        n_out = out.iou_pred.shape[1]
        # Masks are ordered point-major (3 per point), as segment_anything flattens them.
        iou_flat = out.iou_pred.flatten()
        keep = iou_flat > self.pred_iou_thresh if self.pred_iou_thresh > 0.0 else torch.ones_like(iou_flat, dtype=torch.bool)
        keep_2d = keep.view(-1, n_out)
        prompts = torch.nonzero(keep_2d.any(dim=1)).flatten()
        if prompts.numel():
            low = decoder.masks(side, out, prompts)  # P' x M x 4h x 4w
            low = projector.crop_low_res(low[keep_2d[prompts]])
        else:
            low = torch.empty(0, *projector.needed_hw, device=device)
        del out
        t1 = _now()
        self.timings["decoder"] += t1 - t0
        iou = iou_flat[keep]
        pts = torch.as_tensor(points_xy, dtype=torch.float64).repeat_interleave(n_out, dim=0)[keep.cpu()]
        st = projector.stats(low, model.mask_threshold, self.stability_score_offset)
        sel = torch.ones(low.shape[0], dtype=torch.bool, device=device)
        if self.stability_score_thresh > 0.0:
            sel &= st.stability >= self.stability_score_thresh
        ox, oy = crop.offset_xy
        boxes_img = st.boxes_xyxy + torch.tensor([ox, oy, ox, oy], device=device)
        sel &= ~is_box_near_crop_edge(boxes_img, crop.box_xyxy, (0, 0, orig_hw[1], orig_hw[0]))
        self.timings["postprocess"] += _now() - t1
        return _Candidates(low[sel], iou[sel], st.stability[sel], st.boxes_xyxy[sel], st.areas[sel], pts[sel.cpu()])

    def _make_records(self, cand: _Candidates, keep: torch.Tensor, projector: FullResProjector, crop: CropBox,
                      orig_hw: tuple[int, int], mask_threshold: float) -> list[MaskRecord]:
        """COCO RLE in the image frame for the NMS survivors (in NMS order)."""
        ox, oy = crop.offset_xy
        ch, cw = crop.hw
        full_frame = (ox, oy, cw, ch) == (0, 0, orig_hw[1], orig_hw[0])
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
                px, py = (float(v) for v in cand.points_xy[i].tolist())
                records.append(MaskRecord(
                    segmentation=encode_coco_rle(m), area=int(cand.areas[i]), bbox_xywh=box,
                    predicted_iou=float(cand.iou_pred[i]), point_xy=(px + ox, py + oy),
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
