"""Settings of the engine's automatic mask generation: the paper's fully automatic stage and the
stricter semi-automatic pre-fill, as keyword arguments of SamAutomaticMaskGenerator.

Stage 3 (SAM paper, section 4 "Fully automatic stage"): a 32 x 32 point grid, three ambiguity-aware
masks per point, keep confident masks (predicted IoU) that are stable (the mask barely changes when
the logit threshold moves by +-1), box NMS, overlapping zoomed-in crops (2 x 2 at half the grid
density), and small disconnected regions and holes under 100 px removed.

Thresholds: the paper's 0.88 predicted IoU is calibrated for the official checkpoints. A model that
carries its own recommendation (`model.amg_defaults`, samkit's built-in model: its predicted IoUs
are low) uses that; the flags override either. The pre-fill (stage 2) wants few false positives, so
it raises both thresholds part of the way to 1 (a disabled one stays disabled).
"""

from __future__ import annotations

PAPER_STAGE3 = {
    "points_per_side": 32,
    "box_nms_thresh": 0.7,
    "crop_n_layers": 1,
    "crop_n_points_downscale_factor": 2,
    "crop_nms_thresh": 0.7,
    "min_mask_region_area": 100,
}
SAM_THRESHOLDS = {"pred_iou_thresh": 0.88, "stability_score_thresh": 0.95}
STRICT_FRACTION = 0.5  # pre-fill: thresholds moved this fraction of the way from the model's to 1.0


def model_thresholds(model) -> dict:
    """The model's recommended pred_iou / stability thresholds (else SAM's)."""
    return {**SAM_THRESHOLDS, **getattr(model, "amg_defaults", {})}


def stage3_settings(model, **overrides) -> dict:
    """Generator kwargs for stage 3: the paper's settings, the model's thresholds, `overrides` (None = keep)."""
    settings = {**PAPER_STAGE3, **model_thresholds(model)}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


def prefill_settings(model, **overrides) -> dict:
    """Generator kwargs for the stage-2 pre-fill: stage 3's, with stricter thresholds and no crops
    (a proposal a human must reject costs more than a missed object the human adds)."""
    strict = {k: strict_threshold(v) for k, v in model_thresholds(model).items()}
    settings = {**PAPER_STAGE3, "crop_n_layers": 0, **strict}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return settings


def strict_threshold(value: float) -> float:
    """A threshold moved STRICT_FRACTION of the way to 1 (0.8 -> 0.9). A disabled filter (0) stays
    disabled: a model that recommends 0 (samkit's built-in) has predicted IoUs that say nothing."""
    return value + STRICT_FRACTION * (1.0 - value) if value > 0 else 0.0


def build_generator(model, settings: dict):
    """A SAM 1 / SAM 2 automatic mask generator with COCO RLE output and these settings."""
    from samkit.inference.model_family import model_family

    if model_family(model) == "sam2":
        from samkit.automatic.sam2_generator import SAM2AutomaticMaskGenerator as cls
    else:
        from samkit.automatic.generator import SamAutomaticMaskGenerator as cls
    return cls(model, output_mode="coco_rle", **settings)
