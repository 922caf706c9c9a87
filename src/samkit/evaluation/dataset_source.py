"""Recognise an evaluation dataset on disk: a COCO instances file/folder or a DAVIS folder.

Accepted `--data`:
- a COCO instances .json (images in `--images`, else `<root>/images/<split>/` where the file is
  `<root>/annotations/instances_<split>.json`, else next to the json);
- a COCO root folder holding exactly one `annotations/instances_*.json`;
- a DAVIS root (JPEGImages/ + Annotations/, 480p preferred).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from samkit.errors import InputError


@dataclass(frozen=True)
class DatasetSource:
    kind: str  # "coco" | "davis"
    root: Path
    annotation_path: Optional[Path] = None
    images_dir: Optional[Path] = None


def _coco_images_dir(ann: Path, images: Optional[Path]) -> Path:
    if images is not None:
        return Path(images)
    split = ann.stem.split("_", 1)[1] if ann.stem.startswith("instances_") else ann.stem
    for candidate in (ann.parent.parent / "images" / split, ann.parent.parent / split, ann.parent / "images"):
        if candidate.is_dir():
            return candidate
    return ann.parent


def resolve_dataset(data: Path, images: Optional[Path] = None) -> DatasetSource:
    from samkit.evaluation.davis_folders import is_davis_root

    data = Path(data)
    if not data.exists():
        raise InputError(f"dataset not found: {data}")
    if data.is_file():
        if data.suffix.lower() != ".json":
            raise InputError(f"{data}: expected a COCO instances .json, a COCO folder or a DAVIS folder")
        return DatasetSource("coco", data.parent, data, _coco_images_dir(data, images))
    if is_davis_root(data):
        return DatasetSource("davis", data)
    anns = sorted((data / "annotations").glob("instances_*.json")) if (data / "annotations").is_dir() else []
    if len(anns) == 1:
        return DatasetSource("coco", data, anns[0], _coco_images_dir(anns[0], images))
    if len(anns) > 1:
        raise InputError(f"{data} has several instance files ({', '.join(a.name for a in anns)}): pass one as --data")
    raise InputError(f"{data} is neither a COCO dataset (annotations/instances_*.json) nor a DAVIS folder "
                     f"(JPEGImages/ + Annotations/)")
