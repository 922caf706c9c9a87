"""Submitted annotations -> a COCO instance dataset on disk that `samkit finetune --data DIR` reads.

Layout (DIR is --dataset-dir): DIR/annotations/instances_train.json + DIR/images/train/<file>.
Each Label Studio task is one image (its file fetched once from Label Studio); each brush or polygon
region of a submitted annotation is one COCO annotation (brush -> uncompressed RLE, polygon ->
polygon), its category the region's label. ANNOTATION_UPDATED replaces that annotation's regions,
ANNOTATIONS_DELETED removes them. Every change is written before the webhook is answered, atomically
(a temp file fsync'ed, then os.replace), so a crash at any moment leaves the previous or the new
dataset, never a torn one, and nothing Label Studio was told is stored is lost.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from samkit.automatic.rle import mask_to_uncompressed_rle
from samkit.errors import InputError
from samkit.integrations.label_studio.brush_rle import rle_to_mask
from samkit.integrations.label_studio.image_fetch import FetchedImage
from samkit.integrations.label_studio.polygons import polygon_pixels_flat, polygon_to_mask

SPLIT = "train"
STORED_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
DELETE_ACTIONS = ("ANNOTATIONS_DELETED", "ANNOTATION_DELETED")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


class DatasetWriter:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.json_path = self.root / "annotations" / f"instances_{SPLIT}.json"
        self.image_dir = self.root / "images" / SPLIT
        self._lock = threading.Lock()
        if self.json_path.is_file():
            try:
                self._coco = json.loads(self.json_path.read_text())
            except ValueError as e:
                raise InputError(f"{self.json_path} is not valid JSON ({e}): move it away or choose another "
                                 "--dataset-dir") from None
        else:
            self._coco = {"info": {"description": "annotations submitted in Label Studio (samkit label-studio)"},
                          "images": [], "annotations": [], "categories": []}

    # ------------------------------------------------------------------ webhook actions
    def handle(self, payload: dict, fetch: Callable[[str], FetchedImage], image_field: str | None) -> dict:
        """A webhook payload -> what was stored. fetch(url) fetches a task's image from Label Studio."""
        action = payload.get("action")
        if action in DELETE_ACTIONS:
            ids = [a.get("id") for a in payload.get("annotations") or [payload.get("annotation") or {}]
                   if isinstance(a, dict)]
            return {"action": action, "removed": self.remove_annotations(ids)}
        if action not in STORED_ACTIONS:
            return {"action": action, "stored": 0, "ignored": True}
        annotation, task = payload.get("annotation"), payload.get("task")
        if not isinstance(annotation, dict) or not isinstance(task, dict):
            raise InputError(f"{action} webhook without annotation or task objects")
        return {"action": action, "stored": self.store(task, annotation, fetch, image_field)}

    def store(self, task: dict, annotation: dict, fetch: Callable[[str], FetchedImage],
              image_field: str | None) -> int:
        """Store one submitted annotation of a task (replacing its earlier version); returns regions stored."""
        task_id = task.get("id")
        if not isinstance(task_id, int):
            raise InputError("webhook task has no integer id")
        regions = [r for r in annotation.get("result") or [] if isinstance(r, dict)
                   and r.get("type") in ("brushlabels", "polygonlabels")]
        if not regions:  # nothing to segment with (e.g. video boxes); an update may have removed all masks
            self.remove_annotations([annotation.get("id")])
            return 0
        image_entry = self._image_entry(task_id)
        fetched = None
        if image_entry is None:
            fetched = fetch(_task_image_url(task, image_field))
        with self._lock:
            if image_entry is None and self._image_entry(task_id) is None:
                h, w = fetched.pixels.shape[:2]
                file_name = f"task_{task_id}{fetched.extension}"
                write_atomic(self.image_dir / file_name, fetched.data)  # the image before the JSON naming it
                self._coco["images"].append({"id": task_id, "file_name": file_name, "height": int(h), "width": int(w),
                                             "label_studio_url": _task_image_url(task, image_field)})
            image_entry = self._image_entry(task_id)
            h, w = image_entry["height"], image_entry["width"]
            ann_id = annotation.get("id")
            self._coco["annotations"] = [a for a in self._coco["annotations"] if a.get("label_studio_annotation") != ann_id]
            stored = 0
            for region in regions:
                converted = _segmentation(region, h, w)
                if converted is None:
                    continue
                segmentation, mask = converted
                ys, xs = np.nonzero(mask)
                label = _region_label(region)
                self._coco["annotations"].append({
                    "id": self._next_annotation_id(), "image_id": task_id, "category_id": self._category_id(label),
                    "segmentation": segmentation, "area": int(mask.sum()), "iscrowd": 0,
                    "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)],
                    "label_studio_annotation": ann_id, "label_studio_region": region.get("id")})
                stored += 1
            self._write()
        return stored

    def remove_annotations(self, annotation_ids: list) -> int:
        with self._lock:
            before = len(self._coco["annotations"])
            self._coco["annotations"] = [a for a in self._coco["annotations"]
                                         if a.get("label_studio_annotation") not in set(annotation_ids)]
            removed = before - len(self._coco["annotations"])
            if removed:
                self._write()
        return removed

    # ------------------------------------------------------------------ internals
    def _write(self) -> None:
        write_atomic(self.json_path, json.dumps(self._coco, separators=(",", ":")).encode())

    def _image_entry(self, task_id: int) -> dict | None:
        return next((im for im in self._coco["images"] if im["id"] == task_id), None)

    def _next_annotation_id(self) -> int:
        return max((a["id"] for a in self._coco["annotations"]), default=0) + 1

    def _category_id(self, label: str) -> int:
        for cat in self._coco["categories"]:
            if cat["name"] == label:
                return cat["id"]
        cat_id = max((c["id"] for c in self._coco["categories"]), default=0) + 1
        self._coco["categories"].append({"id": cat_id, "name": label})
        return cat_id


def _task_image_url(task: dict, image_field: str | None) -> str:
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    if image_field and isinstance(data.get(image_field), str):
        return data[image_field]
    urls = [v for v in data.values() if isinstance(v, str)]
    if len(urls) != 1:
        raise InputError(f"task {task.get('id')}: cannot tell which data field is the image "
                         f"(fields: {', '.join(data) or 'none'})")
    return urls[0]


def _region_label(region: dict) -> str:
    value = region.get("value") or {}
    labels = value.get(region.get("type")) or ["object"]
    return str(labels[0])


def _segmentation(region: dict, h: int, w: int) -> tuple[object, np.ndarray] | None:
    value = region.get("value") or {}
    if region.get("type") == "brushlabels":
        if value.get("format", "rle") != "rle" or "rle" not in value:
            raise InputError(f"brush region {region.get('id')} is not in Label Studio's rle format")
        rh, rw = int(region.get("original_height") or h), int(region.get("original_width") or w)
        mask = rle_to_mask(value["rle"], rh, rw)
        if (rh, rw) != (h, w):
            raise InputError(f"brush region {region.get('id')} is {rw} x {rh}, its image {w} x {h}")
        return (mask_to_uncompressed_rle(mask), mask) if mask.any() else None
    points = value.get("points") or []
    if len(points) < 3:
        return None
    mask = polygon_to_mask(points, h, w)
    return ([polygon_pixels_flat(points, h, w)], mask) if mask.any() else None
