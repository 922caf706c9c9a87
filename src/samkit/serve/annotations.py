"""Annotations between the page and the store: validation of COCO RLE, COCO JSON and masks.zip.

The page sends masks as COCO compressed RLE ({"size": [H, W], "counts": str}). The server trusts
none of the derived numbers: area and box are recomputed from the RLE with pycocotools. The RLE's
run lengths are checked to add up to H x W before pycocotools sees it, because its decoder writes
runs without bounds checks.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from samkit.coco_rle import compressed_rle_runs
from samkit.errors import InputError
from samkit.serve.store import AnnotationRow, ImageRow, utc_now_iso


class AnnotationError(ValueError):
    """A submitted annotation that cannot be stored (answered with 422)."""


def rle_total_length(counts: str) -> int:
    """Sum of the run lengths in a COCO compressed RLE string (the format of pycocotools' rleToString)."""
    try:
        return sum(compressed_rle_runs(counts))
    except InputError as e:
        raise AnnotationError(str(e)) from None


def annotation_from_request(item: dict, image: ImageRow) -> AnnotationRow:
    """Validate one annotation of a PUT body against its image and derive area and box."""
    seg = item.get("segmentation") or {}
    size, counts = seg.get("size"), seg.get("counts")
    if not isinstance(counts, str) or not isinstance(size, (list, tuple)) or len(size) != 2:
        raise AnnotationError("segmentation must be a COCO RLE {'size': [H, W], 'counts': str}")
    h, w = int(size[0]), int(size[1])
    if (h, w) != (image.height, image.width):
        raise AnnotationError(f"segmentation size {h}x{w} does not match image {image.file_name} "
                              f"({image.height}x{image.width}, H x W)")
    if rle_total_length(counts) != h * w:
        raise AnnotationError(f"RLE runs cover {rle_total_length(counts)} pixels, expected H*W = {h * w}")
    category = str(item.get("category") or "").strip()
    if not category or len(category) > 200:
        raise AnnotationError("every annotation needs a category name (1 to 200 characters)")
    rle = {"size": [h, w], "counts": counts.encode()}
    iou = item.get("predicted_iou")
    return AnnotationRow(
        id=item.get("id"), image_id=image.id, category=category, rle_counts=counts, rle_hw=(h, w),
        bbox_xywh=[float(v) for v in mask_utils.toBbox(rle)], area=int(mask_utils.area(rle)),
        predicted_iou=None if iou is None else float(iou), created=item.get("created") or utc_now_iso(),
    )


def annotation_json(row: AnnotationRow) -> dict:
    return {
        "id": row.id, "category": row.category,
        "segmentation": {"size": list(row.rle_hw), "counts": row.rle_counts},
        "bbox": row.bbox_xywh, "area": row.area, "predicted_iou": row.predicted_iou, "created": row.created,
    }


def coco_json(images: list[ImageRow], annotations: list[AnnotationRow]) -> dict:
    """COCO instances JSON: categories numbered 1.. in name order, RLE segmentations."""
    names = sorted({a.category for a in annotations})
    category_ids = {name: i + 1 for i, name in enumerate(names)}
    image_ids = {im.id for im in images}
    return {
        "info": {"description": "exported by samkit serve", "date_created": utc_now_iso()},
        "licenses": [],
        "images": [{"id": im.id, "file_name": im.file_name, "width": im.width, "height": im.height} for im in images],
        "categories": [{"id": category_ids[n], "name": n, "supercategory": ""} for n in names],
        "annotations": [
            {"id": a.id, "image_id": a.image_id, "category_id": category_ids[a.category],
             "segmentation": {"size": list(a.rle_hw), "counts": a.rle_counts}, "area": a.area,
             "bbox": a.bbox_xywh, "iscrowd": 0, "predicted_iou": a.predicted_iou}
            for a in annotations if a.image_id in image_ids
        ],
    }


def masks_zip(images: list[ImageRow], annotations: list[AnnotationRow]) -> bytes:
    """A zip of one 0/255 PNG per annotation (image_stem/annotationid_category.png) + annotations.json."""
    buf = io.BytesIO()
    stems: dict[int, str] = {}
    taken: set[str] = set()
    for im in images:
        stem = _safe(Path(im.file_name).with_suffix("").as_posix().replace("/", "__"))
        stems[im.id] = stem if stem not in taken else f"{stem}_{im.id}"
        taken.add(stems[im.id])
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for a in annotations:
            if a.image_id not in stems:
                continue
            mask = mask_utils.decode({"size": list(a.rle_hw), "counts": a.rle_counts.encode()})
            png = io.BytesIO()
            Image.fromarray((mask.astype(np.uint8) * 255)).save(png, format="PNG", optimize=True)
            zf.writestr(f"{stems[a.image_id]}/{a.id}_{_safe(a.category)}.png", png.getvalue())
        zf.writestr("annotations.json", json.dumps(coco_json(images, annotations)))
    return buf.getvalue()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "unnamed"
