"""DAVIS folders for evaluation: JPEGImages/<res>/<seq>/NNNNN.jpg + Annotations/<res>/<seq>/NNNNN.png.

The folder listing and label reading live in samkit.data.davis (shared with training); this module
shapes them into what the protocols consume.

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

from samkit.data.davis import is_davis_root, list_davis_frames, read_davis_labels, resolution_dirs
from samkit.data.splits import keep_side
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


def read_davis_sequences(root: Path, sequences: Optional[list[str]] = None,
                         max_frames: Optional[int] = None, frame_stride: int = 1) -> list[VideoSequence]:
    """Sequences (sorted by name) with frames that have an annotation; every `frame_stride`-th
    frame, at most `max_frames` of them (the first frame, the reference, is always kept)."""
    listing = list_davis_frames(root, sequences, frame_stride, max_frames)
    return [VideoSequence(name, tuple(f for f, _ in pairs), tuple(a for _, a in pairs))
            for name, pairs in listing.items()]


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


def sequences_on_side(root: Path, side: str, val_fraction: float, seed: int = 0,
                      sequences: Optional[list[str]] = None) -> Optional[list[str]]:
    """The sequence names of `root` that the training split rule puts on `side` ("train"/"val"),
    restricted to `sequences` when given; for side "all", `sequences` unchanged. Every sequence of
    the folder takes part in the rule, as in training, so a --sequences subset changes nothing."""
    if side == "all":
        return sequences
    jpeg_dir, _ = resolution_dirs(root)
    names = sorted(p.name for p in jpeg_dir.iterdir() if p.is_dir())
    kept = [n for n, k in zip(names, keep_side(names, side, val_fraction, seed, f"davis:{Path(root).name}")) if k]
    if sequences:
        missing = sorted(set(sequences) - set(names))
        if missing:
            raise InputError(f"sequences not found in {jpeg_dir}: {', '.join(missing)}")
        kept = [n for n in kept if n in set(sequences)]
    if not kept:
        raise InputError(f"no sequence of {root} is on the {side} side (val fraction {val_fraction}, seed {seed})")
    return kept


# is_davis_root and read_davis_labels are re-exported from samkit.data.davis, their home since
# training reads DAVIS too.
__all__ = ["VideoSequence", "davis_as_images", "is_davis_root", "read_davis_labels", "read_davis_sequences",
           "sequences_on_side"]
