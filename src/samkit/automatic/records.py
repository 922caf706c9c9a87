"""Typed mask records, and their segment_anything / SA-1B dict forms.

samkit's own code passes `MaskRecord`s around; `to_dict(output_mode)` gives the exact record
`segment_anything.SamAutomaticMaskGenerator.generate` returns (same keys, same value types), and
`to_sa1b_annotation` the SA-1B per-image JSON annotation layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from samkit.automatic.rle import decode_coco_rle, mask_to_uncompressed_rle

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


@dataclass
class MaskRecord:
    """One generated mask, all coordinates in original-image pixels.

    segmentation: COCO RLE ({"size": [h, w], "counts": str}) of the full-image mask.
    bbox_xywh: [x, y, w, h] ints, where w = right - left with both edges inclusive pixel indices
        (segment_anything's convention, kept for drop-in compatibility).
    point_xy: the grid point that prompted the mask.
    crop_box_xywh: the crop the mask came from ([0, 0, W, H] for the whole image).
    """

    segmentation: dict[str, Any]
    area: int
    bbox_xywh: list[int]
    predicted_iou: float
    point_xy: tuple[float, float]
    stability_score: float
    crop_box_xywh: list[int]

    def mask(self) -> np.ndarray:
        """H x W bool mask."""
        return decode_coco_rle(self.segmentation)

    def segmentation_as(self, output_mode: str) -> Any:
        if output_mode == "coco_rle":
            return dict(self.segmentation)
        if output_mode == "binary_mask":
            return self.mask()
        if output_mode == "uncompressed_rle":
            return mask_to_uncompressed_rle(self.mask())
        raise ValueError(f"unknown output_mode {output_mode!r}; expected one of {OUTPUT_MODES}")

    def to_dict(self, output_mode: str = "binary_mask") -> dict[str, Any]:
        """segment_anything's record: segmentation, area, bbox, predicted_iou, point_coords,
        stability_score, crop_box."""
        return {
            "segmentation": self.segmentation_as(output_mode),
            "area": int(self.area),
            "bbox": [int(v) for v in self.bbox_xywh],
            "predicted_iou": float(self.predicted_iou),
            "point_coords": [[float(self.point_xy[0]), float(self.point_xy[1])]],
            "stability_score": float(self.stability_score),
            "crop_box": [int(v) for v in self.crop_box_xywh],
        }

    def to_sa1b_annotation(self, ann_id: int) -> dict[str, Any]:
        """An SA-1B annotation (COCO RLE segmentation), JSON-ready."""
        d = self.to_dict("coco_rle")
        return {"id": int(ann_id), **d}
