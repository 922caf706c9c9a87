"""DAVIS folders: JPEGImages/<res>/<seq>/NNNNN.jpg + Annotations/<res>/<seq>/NNNNN.png.

Annotations are single-object (DAVIS 2016: 0/255, read as label 1) or palette-indexed multi-object
(DAVIS 2017: 0 = background, k = object k). Each label value is one object: a 2016 object that is
in several pieces (a swan and its reflection, an occluded car) stays one target, unlike binary
label-map folders, whose blobs are separate cells. This module is the one DAVIS reader: training
uses `DavisFrames`, evaluation (samkit.evaluation.davis_folders) builds on the same listing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.records import InstanceSample
from samkit.errors import InputError
from samkit.image_io import read_label_image

RESOLUTIONS = ("480p", "Full-Resolution", "1080p")


def is_davis_root(root: str | Path) -> bool:
    return (Path(root) / "JPEGImages").is_dir() and (Path(root) / "Annotations").is_dir()


def resolution_dirs(root: str | Path) -> tuple[Path, Path]:
    """(JPEGImages/<res>, Annotations/<res>), 480p preferred; the bare folders when no <res> level."""
    root = Path(root)
    jpeg, ann = root / "JPEGImages", root / "Annotations"
    if not jpeg.is_dir() or not ann.is_dir():
        raise InputError(f"{root} is not a DAVIS folder (expected JPEGImages/ and Annotations/ inside)")
    for res in RESOLUTIONS:
        if (jpeg / res).is_dir() and (ann / res).is_dir():
            return jpeg / res, ann / res
    return jpeg, ann


def read_davis_labels(path: str | Path) -> np.ndarray:
    """H x W int64 label map: 0 background, 2016's 255 becomes 1, 2017's palette indices kept."""
    labels = read_label_image(path, "DAVIS annotation")
    if labels.ndim == 3:  # an RGB-saved annotation: any non-black pixel is the object
        labels = (labels.max(axis=2) > 0).astype(np.uint8)
    labels = labels.astype(np.int64)
    if set(np.unique(labels).tolist()) <= {0, 255}:
        labels = (labels > 0).astype(np.int64)
    return labels


def list_davis_frames(root: str | Path, sequences: Optional[list[str]] = None, frame_stride: int = 1,
                      max_frames: Optional[int] = None) -> dict[str, list[tuple[Path, Path]]]:
    """{sequence: [(frame jpg, annotation png), ...]}, sequences sorted by name, frames by file name.

    Only frames with an annotation count; of those every `frame_stride`-th (the first frame, the
    video protocols' reference, always kept), at most `max_frames`. Sequences left empty are dropped.
    """
    if frame_stride < 1:
        raise InputError(f"frame stride must be >= 1, got {frame_stride}")
    jpeg_dir, ann_dir = resolution_dirs(root)
    names = sorted(p.name for p in jpeg_dir.iterdir() if p.is_dir())
    if sequences:
        missing = sorted(set(sequences) - set(names))
        if missing:
            raise InputError(f"sequences not found in {jpeg_dir}: {', '.join(missing)}")
        names = [n for n in names if n in set(sequences)]
    out = {}
    for name in names:
        pairs = [(f, ann_dir / name / (f.stem + ".png")) for f in sorted((jpeg_dir / name).glob("*.jpg"))]
        pairs = [(f, a) for f, a in pairs if a.is_file()][::frame_stride]
        if max_frames is not None:
            pairs = pairs[:max_frames]
        if pairs:
            out[name] = pairs
    if not out:
        raise InputError(f"no annotated frames found under {jpeg_dir}")
    return out


def _has_object(annotation: Path) -> bool:
    return bool(read_label_image(annotation, "DAVIS annotation").any())


class DavisFrames(RecordDataset):
    """Every `frame_stride`-th annotated frame of every sequence as one image (frames with no object
    skipped); its objects are the label values present in that frame. records: {"key": frame path, "labels": annotation path,
    "group": sequence name} (the group keeps a sequence on one side of a train/val split)."""

    def __init__(self, root: str | Path, frame_stride: int = 1, sequences: Optional[list[str]] = None,
                 name: str | None = None):
        root = Path(root)
        super().__init__(name or f"davis:{root.name}")
        for seq, pairs in list_davis_frames(root, sequences, frame_stride).items():
            # Frames whose object is out of view have nothing to train on (DAVIS 2017 has them).
            self.records += [{"key": str(f), "labels": str(a), "group": seq} for f, a in pairs if _has_object(a)]

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        labels = read_davis_labels(record["labels"])
        if labels.shape != image.shape[:2]:
            raise InputError(f"{record['labels']}: annotation {labels.shape} differs from its frame {image.shape[:2]}")
        ids = tuple(int(v) for v in np.unique(labels) if v != 0)
        masks = np.stack([labels == v for v in ids]) if ids else np.zeros((0, *labels.shape), bool)
        return InstanceSample(image, masks, record["key"], ids)
