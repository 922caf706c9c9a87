"""COCO panoptic: one PNG per image (segment id = R + 256 G + 65536 B) plus segments_info JSON.

Both "things" and "stuff" segments become instance masks, which is what "segment everything"
training wants (sky, road and wall are valid things to click on). Crowd segments are skipped.
A segment listed in the JSON but absent from its PNG is reported (file and segment id) and skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.records import InstanceSample
from samkit.errors import InputError
from samkit.image_io import read_label_image
from samkit.json_files import read_json


def read_panoptic_ids(png_path: str | Path) -> np.ndarray:
    """H x W int64 segment ids from a COCO panoptic PNG (RGB -> R + 256 G + 65536 B)."""
    rgb = read_label_image(png_path, "panoptic PNG", mode="RGB").astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def _is_name(v) -> bool:
    return isinstance(v, str) and v != ""


class CocoPanoptic(RecordDataset):
    """panoptic_json: panoptic_*.json; png_dir: its PNG folder; image_dir: the photos."""

    def __init__(self, panoptic_json: str | Path, png_dir: str | Path, image_dir: str | Path,
                 include_stuff: bool = True, name: str | None = None):
        panoptic_json = Path(panoptic_json)
        self.png_dir, self.image_dir = Path(png_dir), Path(image_dir)
        super().__init__(name or f"coco_panoptic:{panoptic_json.name}")
        data = read_json(panoptic_json, "a COCO panoptic file")
        if not isinstance(data, dict) or not isinstance(data.get("annotations"), list) \
                or not isinstance(data.get("images"), list):
            raise InputError(f"{panoptic_json}: not a COCO panoptic file (needs 'images' and 'annotations' lists)")
        categories = data.get("categories") if isinstance(data.get("categories"), list) else []
        is_thing = {c["id"]: bool(c.get("isthing", 1)) for c in categories
                    if isinstance(c, dict) and isinstance(c.get("id"), (int, str))}
        images = {img["id"]: img for img in data["images"] if isinstance(img, dict) and _is_name(img.get("file_name"))
                  and isinstance(img.get("id"), (int, str))}
        anns = [a for a in data["annotations"] if isinstance(a, dict)]
        if len(anns) < len(data["annotations"]):
            self.issue_log.report(panoptic_json, None, f"{len(data['annotations']) - len(anns)} annotation(s) are "
                                                       "not objects")
        for ann in sorted(anns, key=lambda a: str(a.get("image_id"))):
            image_id = ann.get("image_id")
            img = images.get(image_id) if isinstance(image_id, (int, str)) else None
            if img is None or not _is_name(ann.get("file_name")) or not isinstance(ann.get("segments_info", []), list):
                self.issue_log.report(panoptic_json, image_id if isinstance(image_id, (int, str)) else None,
                                      "annotation without a known image, a PNG file_name or a segments_info list")
                continue
            segments = []
            for seg in ann.get("segments_info", []):
                if not isinstance(seg, dict):
                    self.issue_log.report(panoptic_json, image_id, "segments_info entry is not an object")
                    continue
                if seg.get("iscrowd", 0):
                    continue
                category = seg.get("category_id")
                if not include_stuff and not is_thing.get(category if isinstance(category, (int, str)) else None, True):
                    continue
                if not isinstance(seg.get("id"), int) or isinstance(seg["id"], bool) or not 0 < seg["id"] < 2**24:
                    self.issue_log.report(panoptic_json, seg.get("id") if isinstance(seg.get("id"), int) else None,
                                          "segment id must be an integer 1 .. 2^24-1 (an RGB colour)")
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
