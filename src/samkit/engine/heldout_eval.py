"""Held-out quality of a model: mIoU after 1 and after k clicks, samkit's interactive protocol
(samkit.evaluation.interactive: first click at the object's deepest pixel, then clicks in the
largest error region, previous logits fed back), on the same objects for every model compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samkit.evaluation.interactive import run_click_trajectory
from samkit.evaluation.metrics import miou_curve


@dataclass(frozen=True)
class HeldoutImage:
    """One held-out image and its object masks (H x W bool each, original-image pixels)."""

    path: Path
    masks: tuple[np.ndarray, ...]


def heldout_from_export(coco_json: Path, images_folder: Path, max_objects_per_image: int = 8,
                        min_area_px: int = 64) -> list[HeldoutImage]:
    """Objects of an exported heldout.json (largest first, at most max_objects_per_image per image)."""
    import json

    from samkit.automatic.rle import decode_coco_rle

    doc = json.loads(Path(coco_json).read_text())
    per_image: dict[int, list] = {}
    for a in doc["annotations"]:
        if a["area"] >= min_area_px:
            per_image.setdefault(a["image_id"], []).append(a)
    out = []
    for im in doc["images"]:
        anns = sorted(per_image.get(im["id"], []), key=lambda a: -a["area"])[:max_objects_per_image]
        if anns:
            out.append(HeldoutImage(images_folder / im["file_name"],
                                    tuple(decode_coco_rle(a["segmentation"]) for a in anns)))
    return out


def heldout_miou(model, items: list[HeldoutImage], clicks: int = 5) -> dict:
    """{"miou_1click", "miou_<k>click", "objects"} for `model` on `items` (None values without objects)."""
    from samkit.image_io import load_image
    from samkit.inference.model_family import image_predictor

    predictor = image_predictor(model)
    per_object = []
    for item in items:
        predictor.set_image(load_image(item.path))
        for gt in item.masks:
            per_object.append(run_click_trajectory(predictor, gt, max_clicks=clicks).ious)
    curve = miou_curve(per_object, clicks) if per_object else []
    return {"miou_1click": curve[0] if curve else None, f"miou_{clicks}click": curve[-1] if curve else None,
            "objects": len(per_object)}
