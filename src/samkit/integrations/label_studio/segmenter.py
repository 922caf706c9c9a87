"""The model side of the backend: one predictor, image embeddings cached per image, clicks decoded.

The first prompt on an image fetches it and runs the encoder once; the embedding is kept in memory
(the last `memory_images` images, keyed by the task's image URL) and, with a cache_dir, on disk by
content (inference/embedding.py), so every later click on that image - and the same image after a
restart - runs the prompt encoder and mask decoder only. Requests arrive on several server threads;
the predictor holds one image at a time, so model work is serialised by a lock.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from torch import nn

from samkit.inference.model_family import image_predictor, is_sam2_model


@dataclass(frozen=True)
class AutomaticOptions:
    """Automatic mask generation for "Retrieve predictions". None thresholds: the model's defaults."""

    points_per_side: int = 16
    pred_iou_thresh: float | None = None
    stability_score_thresh: float | None = None
    max_masks: int = 50
    min_area_px: int = 16


@dataclass
class PromptMask:
    mask_hw: np.ndarray  # H x W bool, original image pixels
    score: float  # the decoder's predicted IoU of this mask
    timings_s: dict = field(default_factory=dict)  # fetch / encode / decode seconds of this call


class Segmenter:
    def __init__(self, model: nn.Module, cache_dir: str | os.PathLike | None = None,
                 automatic: AutomaticOptions = AutomaticOptions(), memory_images: int = 8) -> None:
        self.model = model
        self.is_sam2 = is_sam2_model(model)
        self.cache_dir = cache_dir
        self.predictor = image_predictor(model, cache_dir=cache_dir)
        self.automatic = automatic
        self._memory_images = memory_images
        self._embeddings: OrderedDict[str, object] = OrderedDict()
        self._current: str | None = None
        self._lock = threading.Lock()
        self._generator = None

    def _use_image(self, image_ref: str, load_pixels: Callable[[], np.ndarray], timings: dict) -> None:
        """Make the predictor hold image_ref's embedding (encode it only if it is not cached)."""
        if self._current == image_ref:
            return
        cached = self._embeddings.get(image_ref)
        if cached is not None:
            self.predictor.set_embedding(cached)
            self._embeddings.move_to_end(image_ref)
        else:
            t0 = time.perf_counter()
            pixels = load_pixels()
            t1 = time.perf_counter()
            self.predictor.set_image(pixels)  # a content-keyed disk cache hit skips the encoder
            timings["fetch"], timings["encode"] = t1 - t0, time.perf_counter() - t1
            self._embeddings[image_ref] = self.predictor.get_embedding()
            while len(self._embeddings) > self._memory_images:
                self._embeddings.popitem(last=False)
        self._current = image_ref

    def segment(self, image_ref: str, load_pixels: Callable[[], np.ndarray], points_xy: np.ndarray | None,
                point_labels: np.ndarray | None, box_xyxy: np.ndarray | None) -> PromptMask:
        """One object from all its prompts: points N x 2 (x, y) in original pixels with labels N
        (1 positive, 0 negative), and/or a box (4,) x0 y0 x1 y1. A single click is ambiguous, so the
        best of the three multimask outputs is taken; several prompts give one unambiguous mask."""
        timings: dict = {}
        with self._lock:
            self._use_image(image_ref, load_pixels, timings)
            t0 = time.perf_counter()
            n_points = 0 if points_xy is None else len(points_xy)
            multimask = n_points == 1 and box_xyxy is None
            masks, iou, _ = self.predictor.predict(point_coords=points_xy, point_labels=point_labels, box=box_xyxy,
                                                   multimask_output=multimask)
            timings["decode"] = time.perf_counter() - t0
        best = int(np.argmax(iou))
        return PromptMask(np.asarray(masks[best], dtype=bool), float(iou[best]), timings)

    def automatic_masks(self, image_ref: str, pixels: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Automatic mask generation on a whole image -> [(H x W bool mask, predicted IoU)], best first."""
        opts = self.automatic
        with self._lock:
            if self._generator is None:
                self._generator = self._build_generator()
            records = self._generator.generate(pixels)
            self._current = None  # the generator's predictor shares the model, not our image
        keep = [r for r in records if int(r["area"]) >= opts.min_area_px][: opts.max_masks]
        return [(np.asarray(r["segmentation"], dtype=bool), float(r["predicted_iou"])) for r in keep]

    def _build_generator(self):
        opts = self.automatic
        kwargs = dict(points_per_side=opts.points_per_side, pred_iou_thresh=opts.pred_iou_thresh,
                      stability_score_thresh=opts.stability_score_thresh)
        if self.is_sam2:
            from samkit.automatic import SAM2AutomaticMaskGenerator

            kwargs = {k: v for k, v in kwargs.items() if v is not None}
            return SAM2AutomaticMaskGenerator(self.model, **kwargs)
        from samkit.automatic import SamAutomaticMaskGenerator

        generator = SamAutomaticMaskGenerator(self.model, **kwargs)
        # the whole-image crop is the image itself: share the content-keyed embedding cache
        if self.cache_dir is not None and getattr(generator.predictor, "cache", "absent") is None:
            from samkit.inference.embedding import EmbeddingCache

            generator.predictor.cache = EmbeddingCache(self.cache_dir)
        return generator
