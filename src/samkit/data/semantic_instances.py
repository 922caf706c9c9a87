"""Semantic label maps -> instance masks, written as a COCO instances dataset that `samkit train` reads.

Many public segmentation sets label pixels by class (a street scene's road, cars and sky; a fashion
photo's hair, shirt and shoes) but not by object. SAM trains on objects, so each connected region of
a class becomes one instance (4-connectivity, scipy's default), regions under an
area floor are dropped (at 384 px input they are below the 16 px token grid), and optionally the
union of all labelled pixels is added as one more instance: the whole subject (the person of a
clothing-parsing photo), which is what a click on it should give, with its parts as the nested
alternatives SAM's three masks stand for.

Adjacent objects of one class (two parked cars touching) merge into one region: that is the price
of semantic labels, so such sources get a modest weight in a training mixture.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from pycocotools import mask as mask_utils
from scipy import ndimage

from samkit.errors import InputError

def class_regions(labels: np.ndarray, class_names: Sequence[str], min_area_px: int,
                  skip_values: Iterable[int] = (0,), whole_name: str | None = None) -> list[tuple[str, np.ndarray]]:
    """H x W integer class map -> [(class name, H x W bool region)], by label value, then scan order.

    class_names[v] names label value v; values in skip_values (background, "unlabelled") and values
    with no name give no regions. whole_name: also return the union of every non-skipped labelled
    pixel under that name, first (when it reaches min_area_px).
    """
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"a class map must be a 2-D integer array, got {labels.dtype} {labels.shape}")
    skip = set(int(v) for v in skip_values)
    values = [int(v) for v in np.unique(labels) if int(v) not in skip and 0 <= int(v) < len(class_names)]
    out: list[tuple[str, np.ndarray]] = []
    if whole_name is not None:
        whole = np.isin(labels, values)
        if whole.sum() >= min_area_px:
            out.append((whole_name, whole))
    for v in values:
        pieces, n = ndimage.label(labels == v)
        sizes = np.bincount(pieces.ravel(), minlength=n + 1)
        for k in range(1, n + 1):
            if sizes[k] >= min_area_px:
                out.append((class_names[v], pieces == k))
    return out


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _bbox_xywh(mask: np.ndarray) -> list[int]:
    xs, ys = np.nonzero(mask.any(axis=0))[0], np.nonzero(mask.any(axis=1))[0]
    return [int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)]


class CocoInstancesWriter:
    """Builds <root>/annotations/instances_<split>.json and <root>/images/<split>/ (photos linked,
    not copied: the source stays the one copy), the layout `samkit train --data <root>` detects.

    Masks are stored as compressed RLE, so overlapping instances (a person and its shirt) are kept.
    """

    def __init__(self, root: str | Path, categories: Sequence[str], split: str = "train"):
        self.root, self.split = Path(root), split
        self.cat_ids = {name: i + 1 for i, name in enumerate(dict.fromkeys(categories))}
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self.image_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "annotations").mkdir(parents=True, exist_ok=True)

    @property
    def image_dir(self) -> Path:
        return self.root / "images" / self.split

    def add(self, photo: str | Path, file_name: str, regions: Sequence[tuple[str, np.ndarray]]) -> bool:
        """Adds one photo (linked as images/<split>/<file_name>) with its named regions; a photo with
        no non-empty region is left out (returns False)."""
        regions = [(name, m) for name, m in regions if m.any()]
        if not regions:
            return False
        unknown = {name for name, _ in regions} - set(self.cat_ids)
        if unknown:
            raise InputError(f"{photo}: regions of unknown categories {sorted(unknown)}")
        h, w = regions[0][1].shape
        link = self.image_dir / file_name
        if not link.exists():
            os.symlink(Path(photo).resolve(), link)
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": file_name, "height": int(h), "width": int(w)})
        for name, m in regions:
            if m.shape != (h, w):
                raise InputError(f"{photo}: region {name!r} is {m.shape}, the photo's masks are {(h, w)}")
            self.annotations.append({"id": len(self.annotations) + 1, "image_id": image_id,
                                     "category_id": self.cat_ids[name], "segmentation": _rle(m),
                                     "area": int(m.sum()), "bbox": _bbox_xywh(m), "iscrowd": 0})
        return True

    def write(self) -> Path:
        """Writes the JSON (atomically: a killed run leaves the previous file or none) and returns its path."""
        doc = {"images": self.images, "annotations": self.annotations,
               "categories": [{"id": i, "name": n} for n, i in self.cat_ids.items()]}
        path = self.root / "annotations" / f"instances_{self.split}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
        return path
