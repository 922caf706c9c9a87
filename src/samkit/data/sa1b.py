"""SA-1B layout: a folder of `<name>.jpg` + `<name>.json` pairs, the JSON holding
{"image": {"image_id", "file_name", "height", "width"}, "annotations": [{"id", "segmentation":
{"size": [h, w], "counts": "<COCO RLE string>"}, ...}]} — also what `samkit amg` writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.coco import check_segmentation, decode_segmentation, is_side
from samkit.data.records import InstanceSample
from samkit.errors import InputError
from samkit.json_files import read_json


class SA1BFolder(RecordDataset):
    """root: a folder of per-image JSON files (searched non-recursively) and their images."""

    def __init__(self, root: str | Path, name: str | None = None):
        self.root = Path(root)
        super().__init__(name or f"sa1b:{self.root.name}")
        if not self.root.is_dir():
            raise InputError(f"SA-1B folder {self.root} does not exist")
        for path in sorted(self.root.glob("*.json")):
            try:
                data = read_json(path, "an SA-1B image JSON")
            except InputError as e:
                self.issue_log.report(path, None, str(e))
                continue
            info = data.get("image") if isinstance(data, dict) else None
            if not isinstance(info, dict) or not is_side(info.get("height")) or not is_side(info.get("width")) \
                    or not isinstance(info.get("file_name"), str) or not info["file_name"].strip("\x00") \
                    or not isinstance(data.get("annotations", []), list):
                self.issue_log.report(path, None, "not an SA-1B image JSON (needs image.file_name, image.height and "
                                                  "image.width as positive integers, and an annotations list)")
                continue
            h, w, file_name = info["height"], info["width"], info["file_name"]
            anns = []
            for ann in data.get("annotations", []):
                if not isinstance(ann, dict):
                    self.issue_log.report(path, None, "annotation is not an object")
                    continue
                problem = check_segmentation(ann.get("segmentation"), h, w)
                if problem:
                    self.issue_log.report(path, ann.get("id"), problem)
                    continue
                anns.append((ann.get("id"), ann["segmentation"]))
            if anns:
                self.records.append({"key": str(self.root / file_name), "hw": (h, w), "anns": anns, "json": str(path)})

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        h, w = record["hw"]
        if image.shape[:2] != (h, w):
            raise InputError(f"{record['key']}: image is {image.shape[1]}x{image.shape[0]}, {record['json']} says {w}x{h}")
        masks = np.stack([decode_segmentation(seg, h, w) for _, seg in record["anns"]])
        return InstanceSample(image, masks, record["key"], tuple(a for a, _ in record["anns"]))
