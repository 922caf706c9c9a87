"""Read DAVIS-format folders: JPEGImages/<res>/<seq>/NNNNN.jpg + Annotations/<res>/<seq>/NNNNN.png.

Annotations are single-object (DAVIS 2016: 0/255) or palette-indexed multi-object (DAVIS 2017:
0 = background, k = object k). As video, a sequence is a list of frames with one label map each;
as images (for the click/box protocols, as interactive-segmentation papers use DAVIS), every
`frame_stride`-th frame of each sequence is one image with its objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from samkit.errors import InputError
from samkit.evaluation.eval_samples import EvalImage, EvalObject


@dataclass(frozen=True)
class VideoSequence:
    name: str
    frame_paths: tuple[Path, ...]
    annotation_paths: tuple[Path, ...]

    def label_map(self, t: int) -> np.ndarray:
        """H x W int label map of frame t (0 background; 2016's 255 becomes 1)."""
        return read_davis_labels(self.annotation_paths[t])

    def object_ids(self) -> list[int]:
        return [int(v) for v in np.unique(self.label_map(0)) if v != 0]


def read_davis_labels(path: Path) -> np.ndarray:
    labels = np.array(Image.open(path))
    if labels.ndim == 3:  # an RGB-saved annotation: any non-black pixel is the object
        labels = (labels.max(axis=2) > 0).astype(np.uint8)
    labels = labels.astype(np.int64)
    if set(np.unique(labels).tolist()) <= {0, 255}:
        labels = (labels > 0).astype(np.int64)
    return labels


def _resolution_dirs(root: Path) -> tuple[Path, Path]:
    jpeg, ann = root / "JPEGImages", root / "Annotations"
    if not jpeg.is_dir() or not ann.is_dir():
        raise InputError(f"{root} is not a DAVIS folder (expected JPEGImages/ and Annotations/ inside)")
    for res in ("480p", "Full-Resolution", "1080p"):
        if (jpeg / res).is_dir() and (ann / res).is_dir():
            return jpeg / res, ann / res
    return jpeg, ann


def is_davis_root(root: Path) -> bool:
    return (Path(root) / "JPEGImages").is_dir() and (Path(root) / "Annotations").is_dir()


def read_davis_sequences(root: Path, sequences: Optional[list[str]] = None,
                         max_frames: Optional[int] = None, frame_stride: int = 1) -> list[VideoSequence]:
    """Sequences (sorted by name) with frames that have an annotation; every `frame_stride`-th
    frame, at most `max_frames` of them (the first frame, the reference, is always kept)."""
    if frame_stride < 1:
        raise InputError(f"frame stride must be >= 1, got {frame_stride}")
    jpeg_dir, ann_dir = _resolution_dirs(Path(root))
    names = sorted(p.name for p in jpeg_dir.iterdir() if p.is_dir())
    if sequences:
        missing = sorted(set(sequences) - set(names))
        if missing:
            raise InputError(f"sequences not found in {jpeg_dir}: {', '.join(missing)}")
        names = [n for n in names if n in set(sequences)]
    out = []
    for name in names:
        frames = sorted((jpeg_dir / name).glob("*.jpg"))
        pairs = [(f, ann_dir / name / (f.stem + ".png")) for f in frames]
        pairs = [(f, a) for f, a in pairs if a.is_file()][::frame_stride]
        if max_frames is not None:
            pairs = pairs[:max_frames]
        if pairs:
            out.append(VideoSequence(name, tuple(f for f, _ in pairs), tuple(a for _, a in pairs)))
    if not out:
        raise InputError(f"no annotated frames found under {jpeg_dir}")
    return out


def _object_decoder(path: Path, label: int):
    def decode() -> np.ndarray:
        return read_davis_labels(path) == label

    return decode


def davis_as_images(sequences: list[VideoSequence]) -> list[EvalImage]:
    """Each frame with its non-empty objects as an EvalImage (id "<sequence>/<frame>")."""
    out = []
    for seq in sequences:
        for frame, ann in zip(seq.frame_paths, seq.annotation_paths):
            labels = read_davis_labels(ann)
            objects = tuple(
                EvalObject(object_id=f"{seq.name}/{frame.stem}/{k}", area_px=float((labels == k).sum()),
                           ignore=False, decode_mask=_object_decoder(ann, k))
                for k in np.unique(labels).tolist() if k != 0
            )
            if objects:
                out.append(EvalImage(image_id=f"{seq.name}/{frame.stem}", path=frame,
                                     hw=(labels.shape[0], labels.shape[1]), objects=objects))
    return out
