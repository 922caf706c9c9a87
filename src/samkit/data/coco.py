"""COCO instance segmentation JSON: polygons and RLE (compressed or not); iscrowd ignored.

Every annotation is validated once when the dataset is built. A malformed one (no segmentation,
a polygon with fewer than 3 points or an odd number of coordinates, non-finite numbers, an RLE
whose size differs from its image's, an unknown image id) is skipped and reported with the JSON
file and the annotation id. Crowd annotations (iscrowd=1) are not used as targets, as in the
paper's COCO practice: they mark groups, not instances.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from samkit.coco_rle import MAX_SIDE_PX, rle_problem
from samkit.data.base import RecordDataset
from samkit.data.records import InstanceSample
from samkit.errors import InputError
from samkit.json_files import read_json

MAX_COORDINATE = 1e9  # pycocotools rasterises polygons in int32 pixel units


def _check_polygons(seg, h: int, w: int) -> str | None:
    if not isinstance(seg, list) or not seg:
        return "polygon segmentation is an empty list"
    for poly in seg:
        if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
            return f"polygon needs an even number (>= 6) of coordinates, got {len(poly) if isinstance(poly, list) else type(poly).__name__}"
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   and abs(v) < MAX_COORDINATE for v in poly):
            return "polygon has a non-numeric, non-finite or absurdly large coordinate"
    return None


def check_segmentation(seg, h: int, w: int) -> str | None:
    """None when `seg` (a COCO segmentation) can be decoded at h x w, else what is wrong."""
    if not is_side(h) or not is_side(w):
        return f"image size {h!r} x {w!r} is not two positive integers"
    if seg is None or seg == [] or seg == {}:
        return "no segmentation"
    if isinstance(seg, list):
        return _check_polygons(seg, h, w)
    if isinstance(seg, dict):
        return rle_problem(seg, (h, w))
    return f"segmentation must be a polygon list or an RLE dict, got {type(seg).__name__}"


def is_side(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE_PX


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


def read_coco_json(path: Path, issues) -> tuple[dict, list[dict]]:
    """The usable images and annotations of a COCO instances JSON, each checked once.

    Returns ({image id: image entry}, [annotation entries]); an image entry without an id, a file
    name and a positive integer height and width, an annotation of an unknown image or whose
    segmentation cannot be decoded at its image's size, is reported to `issues` (a data.records
    IssueLog: file, id, reason) and left out. A file that is not a COCO instances JSON is an InputError.
    Annotations keep only what samkit reads: id, image_id, segmentation, iscrowd (bool), area
    (float, or None when missing or not a finite number).
    """
    data = read_json(path, "a COCO instances file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise InputError(f"{path}: not a COCO instances file (needs 'images' and 'annotations' lists)")
    images: dict = {}
    for i, img in enumerate(data["images"]):
        img_id = img.get("id") if isinstance(img, dict) else None
        if not isinstance(img, dict) or not _is_id(img_id) or not isinstance(img.get("file_name"), str) \
                or not img["file_name"] or not is_side(img.get("height")) or not is_side(img.get("width")):
            issues.report(path, img_id if _is_id(img_id) else f"images[{i}]",
                          "image entry needs an id, a file_name and a positive integer height and width")
            continue
        if img_id in images:
            issues.report(path, img_id, "duplicate image id (the first entry is used)")
            continue
        images[img_id] = img
    annotations = []
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            issues.report(path, f"annotations[{i}]", f"annotation must be an object, got {type(ann).__name__}")
            continue
        ann_id = ann.get("id") if _is_id(ann.get("id")) else None
        where = ann_id if ann_id is not None else f"annotations[{i}]"
        image_id = ann.get("image_id")
        img = images.get(image_id) if _is_id(image_id) else None
        if img is None:
            issues.report(path, where, f"unknown image_id {image_id!r}")
            continue
        problem = check_segmentation(ann.get("segmentation"), img["height"], img["width"])
        if problem:
            issues.report(path, where, problem)
            continue
        area = ann.get("area")
        area = float(area) if isinstance(area, (int, float)) and not isinstance(area, bool) \
            and math.isfinite(area) and area >= 0 else None
        annotations.append({"id": ann_id, "image_id": image_id, "segmentation": ann["segmentation"],
                            "iscrowd": bool(ann.get("iscrowd", 0)), "area": area})
    return images, annotations


def _is_id(v) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")


def segmentation_area(seg, h: int, w: int) -> float:
    """Pixel area of a checked segmentation, without decoding it to a mask."""
    if isinstance(seg, list):
        return float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(seg, h, w))))
    if isinstance(seg["counts"], list):
        return float(sum(seg["counts"][1::2]))
    counts = seg["counts"]
    return float(mask_utils.area({"size": [h, w], "counts": counts.encode() if isinstance(counts, str) else counts}))


class CocoInstances(RecordDataset):
    """Images with at least one valid non-crowd instance from a COCO instances JSON.

    annotation_json: path to instances_*.json. image_dir: folder holding images[].file_name.
    Yields InstanceSample with masks in the original image frame, ordered by annotation id.
    """

    def __init__(self, annotation_json: str | Path, image_dir: str | Path, name: str | None = None):
        annotation_json, self.image_dir = Path(annotation_json), Path(image_dir)
        super().__init__(name or f"coco:{annotation_json.name}")
        images, annotations = read_coco_json(annotation_json, self.issue_log)
        self.num_crowd_ignored = 0
        per_image = defaultdict(list)
        for ann in annotations:
            if ann["iscrowd"]:
                self.num_crowd_ignored += 1
                continue
            per_image[ann["image_id"]].append((ann["id"], ann["segmentation"]))
        for image_id in sorted(per_image, key=lambda i: (str(type(i)), i)):
            img = images[image_id]
            anns = sorted(per_image[image_id], key=lambda a: (a[0] is None, str(type(a[0])), a[0]))
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
