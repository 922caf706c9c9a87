"""What the evaluation protocols consume: images with ground-truth objects, read lazily.

Readers (`coco_instances`, `davis_folders`) turn a dataset on disk into `EvalImage`s; the image
and the masks are decoded only when a protocol asks for them, so a 30-image run never holds the
whole dataset in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class EvalObject:
    """One ground-truth object. area_px is the dataset's own area (COCO's `area` for COCO, the
    mask's pixel count otherwise): it decides the size bucket. `ignore` objects (COCO crowds) are
    not prompted, but still count as "don't care" in proposal recall."""

    object_id: str
    area_px: float
    ignore: bool
    decode_mask: Callable[[], np.ndarray]  # -> H x W bool, original-image pixels

    def mask(self) -> np.ndarray:
        return self.decode_mask()


@dataclass(frozen=True)
class EvalImage:
    image_id: str
    path: Path
    hw: tuple[int, int]
    objects: tuple[EvalObject, ...]

    def load(self) -> np.ndarray:
        """H x W x 3 uint8 RGB."""
        return read_rgb(self.path)


def read_rgb(path: Path) -> np.ndarray:
    """The dataset image as H x W x 3 uint8 RGB (samkit's loader: EXIF, gray/RGBA handled)."""
    from samkit.image_io import load_image

    return load_image(path)
