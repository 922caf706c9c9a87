"""Any training dataset (samkit.data.build_dataset: label maps, object masks, panoptic, SA-1B...)
as evaluation images, so what a model was fine-tuned on can be measured on its held-out part.

Each image is read once up front to learn its size and its objects' areas (the masks are then
dropped); a protocol asking for an object's mask re-reads that image, through a small cache, since
the protocols visit one image's objects one after another.
"""

from __future__ import annotations

import os
import random
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.splits import keep_side, record_group
from samkit.errors import InputError
from samkit.evaluation.eval_samples import EvalImage, EvalObject


def _image_ids(keys: list[str]) -> list[str]:
    """Short unique ids: each key relative to the folder all keys share (a lone image: its name)."""
    if len(keys) < 2:
        return [Path(k).name for k in keys]
    root = os.path.commonpath(keys)
    return [os.path.relpath(k, root) for k in keys]


def records_as_images(
    dataset: RecordDataset,
    split: str = "all",
    val_fraction: float = 0.1,
    split_seed: int = 0,
    max_images: Optional[int] = None,
    seed: int = 0,
    min_area_px: float = 0.0,
    max_objects_per_image: Optional[int] = None,
) -> list[EvalImage]:
    """EvalImages of `dataset`'s records on `split` ("all", "train" or "val", by the training rule).

    max_images: a seeded random subset (kept in dataset order). min_area_px: smaller objects are
    dropped. max_objects_per_image: the largest N objects of each image. Objects are never
    `ignore` (training datasets already skip crowds). Images left without an object are dropped.
    """
    records = dataset.records
    kept = keep_side([record_group(r) for r in records], split, val_fraction, split_seed, dataset.name)
    indices = [i for i, k in enumerate(kept) if k]
    if max_images is not None and max_images < len(indices):
        indices = sorted(random.Random(seed).sample(indices, max_images))

    @lru_cache(maxsize=2)
    def masks_of(index: int) -> np.ndarray:
        return dataset[index].masks  # N x H x W bool

    def decoder(index: int, j: int):
        return lambda: masks_of(index)[j]

    ids = _image_ids([records[i]["key"] for i in indices])
    out = []
    for image_id, index in zip(ids, indices):
        try:
            sample = dataset[index]
        except (OSError, ValueError) as e:  # InputError is a ValueError
            raise InputError(f"{records[index]['key']}: cannot read this evaluation image ({e})") from e
        areas = sample.masks.reshape(len(sample.masks), -1).sum(axis=1)
        order = [j for j in np.argsort(-areas, kind="stable") if areas[j] >= max(min_area_px, 1)]
        if max_objects_per_image is not None:
            order = order[:max_objects_per_image]
        objects = tuple(
            EvalObject(object_id=f"{image_id}/{sample.instance_ids[j] if j < len(sample.instance_ids) else j}",
                       area_px=float(areas[j]), ignore=False, decode_mask=decoder(index, int(j)))
            for j in order
        )
        if objects:
            out.append(EvalImage(image_id=image_id, path=Path(sample.key), hw=sample.image_rgb.shape[:2],
                                 objects=objects))
    return out
