"""SamAutomaticMaskGenerator: "segment everything" with a grid of point prompts.

Drop-in for segment_anything's class (same constructor arguments, defaults and records) and
produces the same masks, but does much less work (see point_decoder.py and fullres.py). The
pipeline below lives in pipeline.py and is shared with SAM 2 (sam2_generator.py); this file holds
SAM 1's constructor and its decoding of a batch of points:

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

import numpy as np
import torch

from samkit.automatic.decoder_precision import point_decoder_for, resolve_decoder_dtype
from samkit.automatic.fullres import FullResProjector
from samkit.automatic.pipeline import CropDecoder, DecodedBatch, MaskPipeline, checked_point_grids


# segment_anything's thresholds, tuned for the official checkpoints' calibrated IoU predictions.
SAM_AMG_DEFAULTS = {"pred_iou_thresh": 0.88, "stability_score_thresh": 0.95}


class SamAutomaticMaskGenerator(MaskPipeline):
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
        decoder_dtype: torch.dtype | str | None = None,
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
        decoder_dtype: precision of the grid-point decoder (not in segment_anything). None: bf16
            when the model's encoder runs in bf16 or int8 (dtype "auto" on a fast-bf16 CPU) and the
            device computes bf16 fast, else fp32; torch.float32 / "float32" forces fp32
            (decoder_precision.py has the measurements).
        """
        self.point_grids = checked_point_grids(points_per_side, point_grids, crop_n_layers,
                                               crop_n_points_downscale_factor, points_per_batch, output_mode)
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
        self.decoder_dtype = resolve_decoder_dtype(model, decoder_dtype)
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ model-specific
    def _open_crop(self, crop_image: np.ndarray) -> CropDecoder:
        self.predictor.set_image(crop_image)
        return _SamCropDecoder(self.predictor, crop_image.shape[:2], self.decoder_dtype)


class _SamCropDecoder(CropDecoder):
    """SAM 1: the predictor's embedding, decoded by PointBatchDecoder (multimask outputs), its
    transformer in `dtype` (decoder_precision.py)."""

    def __init__(self, predictor, crop_hw: tuple[int, int], dtype: torch.dtype = torch.float32) -> None:
        self.predictor = predictor
        model = predictor.model
        self.model = model
        self.crop_hw = (int(crop_hw[0]), int(crop_hw[1]))
        self.mask_threshold = model.mask_threshold
        features = predictor.features
        cfg = getattr(model, "config", None)
        heads = cfg.mask_decoder.transformer_num_heads if cfg is not None else model.mask_decoder.transformer.num_heads
        self.decoder = point_decoder_for(model.mask_decoder, heads, dtype)
        pe = model.prompt_encoder.get_dense_pe()
        dense = model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand_as(features)
        self.side = self.decoder.prepare(features.float(), pe, dense)
        low_hw = (4 * self.side.hw[0], 4 * self.side.hw[1])
        self.projector = FullResProjector(low_hw, model.image_encoder.img_size, predictor.input_size, self.crop_hw,
                                          features.device)

    def decode(self, points_xy: np.ndarray, pred_iou_thresh: float) -> DecodedBatch:
        side, decoder = self.side, self.decoder
        device = side.img.device
        model_xy = self.predictor.transform.apply_coords(points_xy, self.crop_hw)
        coords = torch.as_tensor(model_xy, device=device)[:, None, :]
        labels = torch.ones(coords.shape[0], 1, dtype=torch.int, device=device)
        sparse, _ = self.model.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        out = decoder.transformer(side, sparse)
        n_out = out.iou_pred.shape[1]
        # Masks are ordered point-major (3 per point), as segment_anything flattens them.
        iou_flat = out.iou_pred.flatten()
        keep = iou_flat > pred_iou_thresh if pred_iou_thresh > 0.0 else torch.ones_like(iou_flat, dtype=torch.bool)
        keep_2d = keep.view(-1, n_out)
        prompts = torch.nonzero(keep_2d.any(dim=1)).flatten()
        if prompts.numel():
            low = decoder.masks(side, out, prompts)  # P' x M x 4h x 4w
            low = self.projector.crop_low_res(low[keep_2d[prompts]]).float()
        else:
            low = torch.empty(0, *self.projector.needed_hw, device=device)
        return DecodedBatch(keep=keep, iou_pred=iou_flat[keep], low_res=low, masks_per_point=n_out)

    def close(self) -> None:
        self.predictor.reset_image()
