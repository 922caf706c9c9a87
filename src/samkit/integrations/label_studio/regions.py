"""Masks -> Label Studio result regions of the project's output control (brush RLE or polygons)."""

from __future__ import annotations

import uuid

import numpy as np

from samkit.integrations.label_studio.brush_rle import mask_to_rle
from samkit.integrations.label_studio.labeling_config import LabelingConfig
from samkit.integrations.label_studio.polygons import mask_to_polygons


def mask_regions(config: LabelingConfig, mask_hw: np.ndarray, label: str, score: float) -> list[dict]:
    """One mask -> its regions: one brush region, or one polygon region per outline (none if empty)."""
    h, w = mask_hw.shape
    out = config.output
    common = {"from_name": out.name, "to_name": config.image_name, "type": out.result_type,
              "original_width": int(w), "original_height": int(h), "image_rotation": 0, "score": float(score),
              "readonly": False}
    if out.tag == "BrushLabels":
        if not mask_hw.any():
            return []
        value = {"format": "rle", "rle": mask_to_rle(mask_hw), "brushlabels": [label]}
        return [{"id": _new_id(), **common, "value": value}]
    return [{"id": _new_id(), **common, "value": {"points": points, "closed": True, "polygonlabels": [label]}}
            for points in mask_to_polygons(mask_hw)]


def _new_id() -> str:
    return uuid.uuid4().hex[:10]
