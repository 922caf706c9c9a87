"""Recognise an evaluation dataset on disk: COCO instances, DAVIS, or any training dataset format.

Accepted `--data`:
- a COCO instances .json (images in `--images`, else `<root>/images/<split>/` where the file is
  `<root>/annotations/instances_<split>.json`, else next to the json);
- a COCO root folder holding exactly one `annotations/instances_*.json`;
- a DAVIS root (JPEGImages/ + Annotations/, 480p preferred);
- anything else `samkit.data.build_dataset` reads (a COCO panoptic json, label-map folders,
  one-mask-per-object folders, SA-1B folders): kind "records", read by `record_images`.
COCO and DAVIS keep their own readers, which keep COCO's crowds and areas and DAVIS's sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from samkit.errors import InputError


@dataclass(frozen=True)
class DatasetSource:
    kind: str  # "coco" | "davis" | "records"
    root: Path
    annotation_path: Optional[Path] = None
    images_dir: Optional[Path] = None
    spec: object = None  # kind "records": the samkit.data.DatasetSpec to build


def _coco_images_dir(ann: Path, images: Optional[Path]) -> Path:
    if images is not None:
        return Path(images)
    split = ann.stem.split("_", 1)[1] if ann.stem.startswith("instances_") else ann.stem
    for candidate in (ann.parent.parent / "images" / split, ann.parent.parent / split, ann.parent / "images"):
        if candidate.is_dir():
            return candidate
    return ann.parent


def _other_format(data: Path, images: Optional[Path]) -> DatasetSource:
    """A training-format dataset, or coco when the format detection says so."""
    from samkit.data.specs import DatasetSpec, detect_format

    try:
        spec = detect_format(DatasetSpec(str(data), images=str(images) if images else ""))
    except InputError as e:
        raise InputError(f"{data} is neither a COCO dataset (annotations/instances_*.json), a DAVIS folder "
                         f"(JPEGImages/ + Annotations/) nor a training dataset format: {e}") from None
    if spec.format == "images":  # pictures without masks: nothing to measure against
        raise InputError(f"{data} is neither a COCO dataset (annotations/instances_*.json), a DAVIS folder "
                         "(JPEGImages/ + Annotations/) nor a training dataset with masks: it holds only images")
    if spec.format == "coco":
        ann = Path(spec.path)
        return DatasetSource("coco", ann.parent, ann, _coco_images_dir(ann, images))
    return DatasetSource("records", data if data.is_dir() else data.parent, spec=spec)


def resolve_dataset(data: Path, images: Optional[Path] = None) -> DatasetSource:
    from samkit.data.davis import is_davis_root

    data = Path(data)
    if not data.exists():
        raise InputError(f"dataset not found: {data}")
    if data.is_file():
        if data.suffix.lower() != ".json":
            raise InputError(f"{data}: expected a .json (COCO instances or panoptic, image -> masks) or a folder")
        if data.name.startswith("instances_"):  # COCO's own naming: skip parsing it twice
            return DatasetSource("coco", data.parent, data, _coco_images_dir(data, images))
        return _other_format(data, images)
    if is_davis_root(data):
        return DatasetSource("davis", data)
    anns = sorted((data / "annotations").glob("instances_*.json")) if (data / "annotations").is_dir() else []
    if len(anns) == 1:
        return DatasetSource("coco", data, anns[0], _coco_images_dir(anns[0], images))
    if len(anns) > 1:
        raise InputError(f"{data} has several instance files ({', '.join(a.name for a in anns)}): pass one as --data")
    return _other_format(data, images)
