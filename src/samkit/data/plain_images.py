"""A folder of images without masks: material for MAE pre-training (`samkit pretrain`), which needs
pixels only. SAM training refuses it (it has nothing to prompt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.label_maps import IMAGE_SUFFIXES
from samkit.data.records import InstanceSample
from samkit.errors import InputError


def list_images(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, sorted; hidden folders (.samkit, .git) skipped."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


class PlainImageFolder(RecordDataset):
    """Every image under `root` (recursively); each sample has 0 masks (N = 0)."""

    has_masks = False

    def __init__(self, root: str | Path):
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"image folder {root} is not a folder")
        files = list_images(root)
        if not files:
            raise InputError(f"image folder {root} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        super().__init__(f"images:{root.name}", [{"key": str(p)} for p in files])

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        return InstanceSample(image, np.zeros((0, *image.shape[:2]), bool), record["key"])
