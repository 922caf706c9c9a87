"""SA-1B layout: a folder of `<name>.jpg` + `<name>.json` pairs, the JSON holding
{"image": {"image_id", "file_name", "height", "width"}, "annotations": [{"id", "segmentation":
{"size": [h, w], "counts": "<COCO RLE string>"}, ...}]} — also what `samkit amg` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.coco import check_segmentation, decode_segmentation
from samkit.data.records import InstanceSample
from samkit.errors import InputError


class SA1BFolder(RecordDataset):
    """root: a folder of per-image JSON files (searched non-recursively) and their images."""

    def __init__(self, root: str | Path, name: str | None = None):
        self.root = Path(root)
        super().__init__(name or f"sa1b:{self.root.name}")
        if not self.root.is_dir():
            raise InputError(f"SA-1B folder {self.root} does not exist")
        for path in sorted(self.root.glob("*.json")):
            try:
                data = json.loads(path.read_text())
                info = data["image"]
                h, w, file_name = int(info["height"]), int(info["width"]), info["file_name"]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                self.issue_log.report(path, None, f"not an SA-1B image JSON ({type(e).__name__}: {e})")
                continue
            anns = []
            for ann in data.get("annotations", []):
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
