"""Dataset specs (what a config file or `--data PATH` names) and building datasets from them.

A spec is a small dataclass; `format="auto"` inspects the path:
- a COCO root (annotations/instances_<split>.json + images/<split>/) or an instances JSON -> "coco"
- a panoptic JSON (annotations with segments_info) -> "coco_panoptic" (PNGs in a folder of the
  JSON's stem next to it, photos in `images`)
- a folder of per-image SA-1B JSONs -> "sa1b"
- a folder with images/ (or image/) and labels/ (or label/, masks/ holding label maps) -> "label_maps"
- a folder of <id>/images + <id>/masks (DSB-2018), or an image -> mask-list JSON -> "object_masks"
- a LabPics folder (Simple|Complex/Train|Test/Image + Instance, or a part of that tree) -> "labpics"
- a folder with JPEGImages/ + Annotations/ -> "davis" (video frames, grouped by sequence for splits);
  with a meta.json -> "youtube_vos"; with one PNG folder per object in each video (SA-V, also under
  JPEGImages_24fps/ + Annotations_6fps/) -> "sa_v". As images, every annotated frame is one image;
  for SAM 2 clip training (samkit.data.clip_loading) each video is a source of clips.
- any other folder of image files (searched recursively) -> "images": no masks, for MAE pre-training
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from samkit.data.base import RecordDataset
from samkit.data.coco import CocoInstances
from samkit.data.davis import DavisFrames
from samkit.data.label_maps import LabelMapFolder, ObjectMaskFolder
from samkit.data.labpics import LabPicsFolder, is_labpics_root
from samkit.data.panoptic import CocoPanoptic
from samkit.data.plain_images import PlainImageFolder, list_images
from samkit.data.sa1b import SA1BFolder
from samkit.data.video_datasets import VideoFrameImages, detect_video_format
from samkit.errors import InputError
from samkit.json_files import read_json

FORMATS = ("auto", "coco", "coco_panoptic", "sa1b", "label_maps", "object_masks", "davis", "youtube_vos", "sa_v",
           "labpics", "images")


@dataclass(frozen=True)
class DatasetSpec:
    """One training source. path: the JSON, folder or root; images / labels: companion folders
    (or files) where the format needs them; weight: its share in the mixture; frame_stride
    (video formats): use every n-th annotated frame of each sequence (consecutive frames are
    near-duplicates, so 5-10 loses little and makes an epoch cheaper; for clips, every n-th annotated
    frame is kept before clips are drawn); split (labpics): "train" or "test" reads only that
    official split, empty both; kinds (labpics): "vessel" or "material" keeps one kind of instance,
    empty both."""

    path: str = ""
    format: str = "auto"
    images: str = ""
    labels: str = ""
    weight: float = 1.0
    frame_stride: int = 1
    split: str = ""
    kinds: str = ""


def _first_existing(*paths: Path) -> Path | None:
    return next((p for p in paths if p.exists()), None)


def _panoptic_photos(path: Path) -> str:
    """COCO's layout: <root>/panoptic/panoptic_<split>.json (or annotations/) next to <root>/images/<split>."""
    split = path.stem.removeprefix("panoptic_")
    root = path.parent.parent
    found = _first_existing(root / "images" / split, root / split, path.parent / "images")
    return str(found) if found and found.is_dir() else ""


def detect_format(spec: DatasetSpec) -> DatasetSpec:
    """The spec with format (and, where guessable, images / labels) filled in from what is on disk."""
    path = Path(spec.path)
    if not path.exists():
        raise InputError(f"dataset path {path} does not exist")
    kw = dict(weight=spec.weight, frame_stride=spec.frame_stride, split=spec.split, kinds=spec.kinds)
    if path.is_file() and path.suffix == ".json":
        data = read_json(path, "a dataset annotation file")
        if isinstance(data, dict) and "annotations" in data and "images" in data:
            anns = data["annotations"]
            if isinstance(anns, list) and anns and isinstance(anns[0], dict) and "segments_info" in anns[0]:
                images = spec.images or _panoptic_photos(path)
                return DatasetSpec(str(path), "coco_panoptic", images, spec.labels or str(path.with_suffix("")), **kw)
            return DatasetSpec(str(path), "coco", spec.images, **kw)
        if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
            return DatasetSpec(str(path), "object_masks", **kw)
        raise InputError(f"{path}: JSON is neither COCO instances/panoptic nor an image -> masks mapping")
    video_format = detect_video_format(path) if path.is_dir() else None
    if video_format:
        return DatasetSpec(str(path), video_format, **kw)
    if path.is_dir() and is_labpics_root(path):
        return DatasetSpec(str(path), "labpics", **kw)
    if path.is_dir():
        insts = sorted((path / "annotations").glob("instances_*.json"))
        if insts:
            split = insts[0].stem.removeprefix("instances_")
            images = spec.images or str(_first_existing(path / "images" / split, path / split, path / "images") or "")
            return DatasetSpec(str(insts[0]), "coco", images, **kw)
        imgs = _first_existing(path / "images", path / "image")
        labels = _first_existing(path / "labels", path / "label", path / "masks")
        if imgs and labels and imgs.is_dir() and labels.is_dir():
            return DatasetSpec(str(path), "label_maps", str(imgs), str(labels), **kw)
        subdirs = [p for p in path.iterdir() if p.is_dir()]
        if subdirs and all((p / "masks").is_dir() for p in subdirs):
            return DatasetSpec(str(path), "object_masks", **kw)
        if any(path.glob("*.json")):
            return DatasetSpec(str(path), "sa1b", **kw)
        if list_images(path):  # images and nothing that pairs them with masks
            return DatasetSpec(str(path), "images", **kw)
    raise InputError(
        f"cannot tell the dataset format of {path}; set format to one of {FORMATS[1:]} "
        "(see docs/training.md for the layouts)"
    )


def _expand(p: str) -> str:
    return os.path.expanduser(os.path.expandvars(p)) if p else p


def build_dataset(spec: DatasetSpec) -> RecordDataset:
    """DatasetSpec -> a RecordDataset of InstanceSample (annotations parsed and validated now).

    Paths may use ~ and $VARS; relative paths are relative to the working directory.
    """
    spec = replace(spec, path=_expand(spec.path), images=_expand(spec.images), labels=_expand(spec.labels))
    if spec.format not in FORMATS:
        raise InputError(f"unknown dataset format {spec.format!r}; expected one of {FORMATS}")
    if not isinstance(spec.frame_stride, int) or spec.frame_stride < 1:
        raise InputError(f"dataset {spec.path}: frame_stride must be an integer >= 1, got {spec.frame_stride!r}")
    if spec.format == "auto":
        spec = detect_format(spec)
    if (spec.split or spec.kinds) and spec.format != "labpics":
        raise InputError(f"dataset {spec.path}: `split` and `kinds` apply to the labpics format only, not {spec.format}")
    if not Path(spec.path).exists():
        raise InputError(f"dataset path {spec.path} does not exist")
    if spec.format == "coco":
        if not spec.images:
            raise InputError(f"COCO dataset {spec.path}: set `images` to the folder holding its photos")
        return CocoInstances(spec.path, spec.images)
    if spec.format == "coco_panoptic":
        if not spec.images or not spec.labels:
            raise InputError(f"panoptic dataset {spec.path}: set `images` (photos) and `labels` (PNG folder)")
        return CocoPanoptic(spec.path, spec.labels, spec.images)
    if spec.format == "davis":
        return DavisFrames(spec.path, spec.frame_stride)
    if spec.format in ("youtube_vos", "sa_v"):
        return VideoFrameImages(spec.path, spec.format, spec.frame_stride)
    if spec.format == "labpics":
        return LabPicsFolder(spec.path, spec.split.lower(), spec.kinds)
    if spec.format == "sa1b":
        return SA1BFolder(spec.path)
    if spec.format == "images":
        return PlainImageFolder(spec.path)
    if spec.format == "label_maps":
        images = spec.images or str(Path(spec.path) / "images")
        labels = spec.labels or str(Path(spec.path) / "labels")
        return LabelMapFolder(images, labels)
    return ObjectMaskFolder(spec.path)
