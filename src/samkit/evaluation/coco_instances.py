"""Read a COCO instances file (polygons and RLE, via pycocotools) into `EvalImage`s.

Evaluation-only reader: the training side has its own COCO dataset in `samkit.data`; this one
exists so the evaluation can select a seeded image subset and keep COCO's own `area` and
`iscrowd` fields, which the size buckets and proposal recall need. The train/val side of a photo
comes from the same rule as training's (samkit.data.splits).
"""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path
from typing import Optional

import numpy as np

from samkit.data.splits import keep_side
from samkit.errors import InputError
from samkit.evaluation.eval_samples import EvalImage, EvalObject


def load_coco(annotation_path: Path):
    """A pycocotools COCO object (its "loading annotations" chatter kept off stdout)."""
    from pycocotools.coco import COCO

    path = Path(annotation_path)
    if not path.is_file():
        raise InputError(f"COCO annotation file not found: {path}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(path))
    except (ValueError, KeyError, TypeError) as e:  # json errors are ValueErrors
        raise InputError(f"{path} is not a COCO instances file: {e}") from e


def _decoder(coco, ann: dict):
    def decode() -> np.ndarray:
        return coco.annToMask(ann).astype(bool)

    return decode


def read_coco_images(
    annotation_path: Path,
    images_dir: Path,
    max_images: Optional[int] = None,
    seed: int = 0,
    min_area_px: float = 0.0,
    max_objects_per_image: Optional[int] = None,
    split: str = "all",
    val_fraction: float = 0.1,
    split_seed: int = 0,
) -> list[EvalImage]:
    """Images of a COCO instances file that have at least one non-crowd object.

    split / val_fraction / split_seed: keep only the photos that training's split rule
    (samkit.data.splits, grouped by photo file name) puts on that side; "all" keeps every photo.
    max_images: a seeded random subset of those (sorted by image id, so runs are reproducible).
    min_area_px: non-crowd objects smaller than this are dropped (crowds are kept as ignore).
    max_objects_per_image: keep the largest non-crowd objects of each image (plus all crowds).
    """
    coco = load_coco(annotation_path)
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise InputError(f"COCO image folder not found: {images_dir}")
    candidates = []
    for img_id in sorted(coco.getImgIds()):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        if any(not a.get("iscrowd", 0) and a["area"] >= min_area_px for a in anns):
            candidates.append(img_id)
    names = [Path(coco.imgs[i]["file_name"]).name for i in candidates]
    kept = keep_side(names, split, val_fraction, split_seed, f"coco:{Path(annotation_path).name}")
    candidates = [i for i, k in zip(candidates, kept) if k]
    if max_images is not None and max_images < len(candidates):
        candidates = sorted(random.Random(seed).sample(candidates, max_images))
    out: list[EvalImage] = []
    for img_id in candidates:
        info = coco.loadImgs([img_id])[0]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        things = [a for a in anns if not a.get("iscrowd", 0) and a["area"] >= min_area_px]
        things.sort(key=lambda a: (-a["area"], a["id"]))
        if max_objects_per_image is not None:
            things = things[:max_objects_per_image]
        crowds = [a for a in anns if a.get("iscrowd", 0)]
        objects = tuple(
            EvalObject(object_id=str(a["id"]), area_px=float(a["area"]), ignore=bool(a.get("iscrowd", 0)),
                       decode_mask=_decoder(coco, a))
            for a in things + crowds
        )
        path = images_dir / info["file_name"]
        if not path.is_file():
            raise InputError(f"image {info['file_name']} of {annotation_path} not found in {images_dir}")
        out.append(EvalImage(image_id=str(img_id), path=path, hw=(int(info["height"]), int(info["width"])),
                             objects=objects))
    return out
