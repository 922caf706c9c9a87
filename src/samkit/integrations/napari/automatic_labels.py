"""Automatic mask generation (AMG, "segment everything") on one plane -> a label image.

Masks are painted largest first, so a small object inside a large one stays visible; ids are
1..N in that order. The generator is samkit's SamAutomaticMaskGenerator or
SAM2AutomaticMaskGenerator, whichever fits the model, with the settings the widget exposes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samkit.inference.model_family import is_sam2_model


@dataclass(frozen=True)
class AmgSettings:
    """The AMG settings the widget shows; None thresholds mean the generator's defaults."""

    points_per_side: int = 32
    pred_iou_thresh: float | None = None
    stability_score_thresh: float | None = None
    box_nms_thresh: float = 0.7
    min_mask_region_area: int = 0


def make_generator(model, settings: AmgSettings):
    kwargs = {"points_per_side": settings.points_per_side, "box_nms_thresh": settings.box_nms_thresh,
              "min_mask_region_area": settings.min_mask_region_area}
    for name in ("pred_iou_thresh", "stability_score_thresh"):
        if getattr(settings, name) is not None:
            kwargs[name] = getattr(settings, name)
    if is_sam2_model(model):
        from samkit.automatic.sam2_generator import SAM2AutomaticMaskGenerator

        return SAM2AutomaticMaskGenerator(model, **kwargs)
    from samkit.automatic.generator import SamAutomaticMaskGenerator

    return SamAutomaticMaskGenerator(model, **kwargs)


def masks_to_label_image(masks: list[np.ndarray], hw: tuple[int, int]) -> np.ndarray:
    """H x W bool masks -> H x W int32 labels, largest painted first (ids 1..N by decreasing area)."""
    out = np.zeros(hw, dtype=np.int32)
    order = sorted(range(len(masks)), key=lambda i: -int(np.count_nonzero(masks[i])))
    for new_id, i in enumerate(order, start=1):
        out[np.asarray(masks[i], dtype=bool)] = new_id
    return out


def automatic_label_image(model, plane_rgb: np.ndarray, settings: AmgSettings = AmgSettings()) -> np.ndarray:
    """AMG on one H x W x 3 uint8 plane -> H x W int32 label image (0: no mask)."""
    records = make_generator(model, settings).generate(plane_rgb)
    return masks_to_label_image([r["segmentation"] for r in records], plane_rgb.shape[:2])
