"""COCO instance segmentation JSON: polygons and RLE (compressed or not); iscrowd ignored.

Every annotation is validated once when the dataset is built. A malformed one (no segmentation,
a polygon with fewer than 3 points or an odd number of coordinates, non-finite numbers, an RLE
whose size differs from its image's, an unknown image id) is skipped and reported with the JSON
file and the annotation id. Crowd annotations (iscrowd=1) are not used as targets, as in the
paper's COCO practice: they mark groups, not instances.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from samkit.data.base import RecordDataset
from samkit.data.records import InstanceSample
from samkit.errors import InputError


def _check_polygons(seg, h: int, w: int) -> str | None:
    if not isinstance(seg, list) or not seg:
        return "polygon segmentation is an empty list"
    for poly in seg:
        if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
            return f"polygon needs an even number (>= 6) of coordinates, got {len(poly) if isinstance(poly, list) else type(poly).__name__}"
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in poly):
            return "polygon has a non-numeric or non-finite coordinate"
    return None


def _check_rle(seg: dict, h: int, w: int) -> str | None:
    size = seg.get("size")
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        return "RLE without a [height, width] size"
    if list(size) != [h, w]:
        return f"RLE size {list(size)} differs from the image's [{h}, {w}]"
    counts = seg.get("counts")
    if isinstance(counts, list):
        if sum(counts) != h * w or any((not isinstance(c, int)) or c < 0 for c in counts):
            return f"uncompressed RLE counts must be non-negative ints summing to {h * w}"
    elif not isinstance(counts, (str, bytes)):
        return "RLE counts must be a list or a string"
    return None


def check_segmentation(seg, h: int, w: int) -> str | None:
    """None when `seg` (a COCO segmentation) can be decoded at h x w, else what is wrong."""
    if seg is None or seg == [] or seg == {}:
        return "no segmentation"
    if isinstance(seg, list):
        return _check_polygons(seg, h, w)
    if isinstance(seg, dict):
        return _check_rle(seg, h, w)
    return f"segmentation must be a polygon list or an RLE dict, got {type(seg).__name__}"


def decode_segmentation(seg, h: int, w: int) -> np.ndarray:
    """COCO polygons / uncompressed RLE / compressed RLE -> H x W bool mask (pycocotools)."""
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg["counts"], list):
        rle = mask_utils.frPyObjects(seg, h, w)
    else:
        counts = seg["counts"]
        rle = {"size": list(seg["size"]), "counts": counts.encode() if isinstance(counts, str) else counts}
    return mask_utils.decode(rle).astype(bool)


class CocoInstances(RecordDataset):
    """Images with at least one valid non-crowd instance from a COCO instances JSON.

    annotation_json: path to instances_*.json. image_dir: folder holding images[].file_name.
    Yields InstanceSample with masks in the original image frame, ordered by annotation id.
    """

    def __init__(self, annotation_json: str | Path, image_dir: str | Path, name: str | None = None):
        annotation_json, self.image_dir = Path(annotation_json), Path(image_dir)
        super().__init__(name or f"coco:{annotation_json.name}")
        try:
            data = json.loads(annotation_json.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"{annotation_json}: not valid JSON ({e})") from None
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise InputError(f"{annotation_json}: not a COCO instances file (needs 'images' and 'annotations')")
        self.num_crowd_ignored = 0
        images = {}
        for img in data["images"]:
            if not all(k in img for k in ("id", "file_name", "height", "width")):
                self.issue_log.report(annotation_json, img.get("id"), "image entry lacks id/file_name/height/width")
                continue
            images[img["id"]] = img
        per_image = defaultdict(list)
        for ann in data["annotations"]:
            ann_id = ann.get("id")
            img = images.get(ann.get("image_id"))
            if img is None:
                self.issue_log.report(annotation_json, ann_id, f"unknown image_id {ann.get('image_id')!r}")
                continue
            if ann.get("iscrowd", 0):
                self.num_crowd_ignored += 1
                continue
            problem = check_segmentation(ann.get("segmentation"), img["height"], img["width"])
            if problem:
                self.issue_log.report(annotation_json, ann_id, problem)
                continue
            per_image[img["id"]].append((ann_id, ann["segmentation"]))
        for image_id in sorted(per_image):
            img = images[image_id]
            anns = sorted(per_image[image_id], key=lambda a: (a[0] is None, a[0]))
            self.records.append({
                "key": str(self.image_dir / img["file_name"]), "hw": (img["height"], img["width"]),
                "image_id": image_id, "anns": anns, "source": str(annotation_json),
            })

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        h, w = record["hw"]
        if image.shape[:2] != (h, w):
            raise InputError(
                f"{record['key']}: image is {image.shape[1]}x{image.shape[0]} but {record['source']} "
                f"says {w}x{h} (image id {record['image_id']})"
            )
        masks = np.stack([decode_segmentation(seg, h, w) for _, seg in record["anns"]])
        ids = tuple(a for a, _ in record["anns"])
        return InstanceSample(image, masks, record["key"], ids)
