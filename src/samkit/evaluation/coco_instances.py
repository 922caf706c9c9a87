"""Read a COCO instances file (polygons and RLE, via pycocotools) into `EvalImage`s.

Evaluation-only reader: the training side has its own COCO dataset in `samkit.data`; this one
exists so the evaluation can select a seeded image subset and keep COCO's own `area` and
`iscrowd` fields, which the size buckets and proposal recall need. The train/val side of a photo
comes from the same rule as training's (samkit.data.splits).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

import numpy as np

from samkit.data.coco import decode_segmentation, read_coco_json, segmentation_area
from samkit.data.records import IssueLog
from samkit.data.splits import keep_side
from samkit.errors import InputError
from samkit.evaluation.eval_samples import EvalImage, EvalObject


def _decoder(seg, h: int, w: int):
    def decode() -> np.ndarray:
        return decode_segmentation(seg, h, w)

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
    path = Path(annotation_path)
    if not path.is_file():
        raise InputError(f"COCO annotation file not found: {path}")
    issues = IssueLog(f"coco:{path.name}")  # skipped entries are logged with the file and their id
    images, annotations = read_coco_json(path, issues)
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise InputError(f"COCO image folder not found: {images_dir}")
    per_image: dict = {}
    for a in annotations:
        img = images[a["image_id"]]
        if a["area"] is None:  # COCO's own field, used for size buckets: computed when missing
            a["area"] = segmentation_area(a["segmentation"], img["height"], img["width"])
        per_image.setdefault(a["image_id"], []).append(a)
    candidates = sorted((i for i, anns in per_image.items()
                         if any(not a["iscrowd"] and a["area"] >= min_area_px for a in anns)),
                        key=lambda i: (str(type(i)), i))
    names = [Path(images[i]["file_name"]).name for i in candidates]
    kept = keep_side(names, split, val_fraction, split_seed, f"coco:{path.name}")
    candidates = [i for i, k in zip(candidates, kept) if k]
    if max_images is not None and max_images < len(candidates):
        chosen = set(random.Random(seed).sample(range(len(candidates)), max_images))
        candidates = [c for j, c in enumerate(candidates) if j in chosen]
    out: list[EvalImage] = []
    for img_id in candidates:
        info = images[img_id]
        h, w = int(info["height"]), int(info["width"])
        anns = per_image[img_id]
        things = [a for a in anns if not a["iscrowd"] and a["area"] >= min_area_px]
        things.sort(key=lambda a: (-a["area"], isinstance(a["id"], str), a["id"] if isinstance(a["id"], int) else 0,
                                   str(a["id"])))
        if max_objects_per_image is not None:
            things = things[:max_objects_per_image]
        crowds = [a for a in anns if a["iscrowd"]]
        objects = tuple(
            EvalObject(object_id=str(a["id"]), area_px=float(a["area"]), ignore=a["iscrowd"],
                       decode_mask=_decoder(a["segmentation"], h, w))
            for a in things + crowds
        )
        image_path = images_dir / info["file_name"]
        if not image_path.is_file():
            raise InputError(f"image {info['file_name']} of {annotation_path} not found in {images_dir}")
        out.append(EvalImage(image_id=str(img_id), path=image_path, hw=(h, w), objects=objects))
    return out
