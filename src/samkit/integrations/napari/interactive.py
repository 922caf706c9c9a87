"""Prompts on a slice -> one object's mask, with SAM 1 or SAM 2 (the model decides which predictor).

The call is the predictor's own, on the slice's cached embedding: every point and the box of the
object on that slice go in together (as the official demos do), one mask out. A lone click is
ambiguous, so it asks for SAM's three masks and keeps the one with the highest predicted IoU; with
more clicks or a box, the single-mask output.
"""

from __future__ import annotations

from typing import Hashable

import numpy as np

from samkit.errors import InputError
from samkit.inference.model_family import image_predictor
from samkit.integrations.napari.prompt_layers import SlicePrompts
from samkit.integrations.napari.slice_embeddings import SliceEmbeddings


class InteractiveSegmenter:
    """A model's image predictor plus its per-slice embeddings."""

    def __init__(self, model, max_slices: int = 32) -> None:
        self.model = model
        self.predictor = image_predictor(model)
        self.embeddings = SliceEmbeddings(self.predictor, max_slices=max_slices)

    def encode(self, key: Hashable, plane_rgb: np.ndarray) -> bool:
        """Make slice `key` current (encoding plane_rgb H x W x 3 uint8 if not cached); True if encoded."""
        return self.embeddings.activate(key, plane_rgb)

    def segment(self, key: Hashable, plane_rgb: np.ndarray, prompts: SlicePrompts) -> np.ndarray:
        """The object's mask on the slice, H x W bool, from its points and box there."""
        if prompts.empty:
            raise InputError("no prompt on this slice: add a point (positive or negative) or draw a box")
        self.encode(key, plane_rgb)
        multimask = len(prompts.points_xy) == 1 and prompts.box_xyxy is None
        pts = prompts.points_xy if len(prompts.points_xy) else None
        masks, iou, _ = self.predictor.predict(
            point_coords=pts, point_labels=prompts.point_labels if pts is not None else None,
            box=prompts.box_xyxy, multimask_output=multimask)
        best = int(np.argmax(iou)) if multimask else 0
        return np.asarray(masks[best]) > 0
