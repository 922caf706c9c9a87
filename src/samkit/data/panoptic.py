"""COCO panoptic: one PNG per image (segment id = R + 256 G + 65536 B) plus segments_info JSON.

Both "things" and "stuff" segments become instance masks, which is what "segment everything"
training wants (sky, road and wall are valid things to click on). Crowd segments are skipped.
A segment listed in the JSON but absent from its PNG is reported (file and segment id) and skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from samkit.data.base import RecordDataset
from samkit.data.records import InstanceSample
from samkit.errors import InputError


def read_panoptic_ids(png_path: str | Path) -> np.ndarray:
    """H x W int64 segment ids from a COCO panoptic PNG (RGB -> R + 256 G + 65536 B)."""
    rgb = np.asarray(Image.open(png_path).convert("RGB")).astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


class CocoPanoptic(RecordDataset):
    """panoptic_json: panoptic_*.json; png_dir: its PNG folder; image_dir: the photos."""

    def __init__(self, panoptic_json: str | Path, png_dir: str | Path, image_dir: str | Path,
                 include_stuff: bool = True, name: str | None = None):
        panoptic_json = Path(panoptic_json)
        self.png_dir, self.image_dir = Path(png_dir), Path(image_dir)
        super().__init__(name or f"coco_panoptic:{panoptic_json.name}")
        data = json.loads(panoptic_json.read_text())
        if "annotations" not in data or "images" not in data:
            raise InputError(f"{panoptic_json}: not a COCO panoptic file (needs 'images' and 'annotations')")
        is_thing = {c["id"]: bool(c.get("isthing", 1)) for c in data.get("categories", [])}
        images = {img["id"]: img for img in data["images"]}
        for ann in sorted(data["annotations"], key=lambda a: str(a.get("image_id"))):
            img = images.get(ann.get("image_id"))
            if img is None or "file_name" not in ann:
                self.issue_log.report(panoptic_json, ann.get("image_id"), "annotation without a known image or PNG file_name")
                continue
            segments = []
            for seg in ann.get("segments_info", []):
                if seg.get("iscrowd", 0):
                    continue
                if not include_stuff and not is_thing.get(seg.get("category_id"), True):
                    continue
                if not isinstance(seg.get("id"), int) or seg["id"] <= 0:
                    self.issue_log.report(panoptic_json, seg.get("id"), "segment id must be a positive int")
                    continue
                segments.append(seg["id"])
            if segments:
                self.records.append({
                    "key": str(self.image_dir / img["file_name"]), "png": str(self.png_dir / ann["file_name"]),
                    "segments": segments, "image_id": img["id"],
                })

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        ids_map = read_panoptic_ids(record["png"])
        if ids_map.shape != image.shape[:2]:
            raise InputError(f"{record['png']}: size {ids_map.shape} differs from its image {image.shape[:2]}")
        masks, ids = [], []
        for seg_id in record["segments"]:
            m = ids_map == seg_id
            if not m.any():
                self.issue_log.report(record["png"], seg_id, "segment listed in the JSON is absent from the PNG")
                continue
            masks.append(m)
            ids.append(seg_id)
        stack = np.stack(masks) if masks else np.zeros((0, *image.shape[:2]), bool)
        return InstanceSample(image, stack, record["key"], tuple(ids))
