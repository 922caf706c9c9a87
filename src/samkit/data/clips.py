"""Clips for SAM 2 training: what a clip source yields before augmentation, and how frames and
objects of a clip are drawn.

A *clip source* (a video folder, or still images made to move) is an indexable dataset whose
item i is a light handle with `key` and `sample(rng) -> RawClip`; drawing the frames and objects
takes the random generator of the training stream, so an item (index, seed) always gives the same
clip. Frames of a clip are in the source's own pixel frame; `clip_transforms` takes them to the
model's S x S input.

Sampling follows the SAM 2 reference (training/dataset/vos_sampler.py RandomUniformSampler): T
annotated frames from a uniformly drawn start, optionally reversed in time, and at most
`max_objects` objects drawn at random among those visible on the clip's first frame (the frame
that gets the first prompt). Unlike the reference, the step between frames is drawn too (1 ..
max_stride annotated frames), for motion of varying speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samkit.errors import InputError, SamkitError


@dataclass(frozen=True)
class ClipSampling:
    """How clips are drawn from a source.

    num_frames: T, frames per clip (1 = single images). max_objects: objects per clip (reference: 3).
    max_stride: the step between frames, in annotated frames, is uniform in 1..max_stride (capped so
    the clip fits the video). reverse_time_prob: chance of playing the clip backwards (reference
    default 0). spare_objects: extra candidates kept beyond max_objects, so that objects which
    augmentation shrinks below the minimum area on frame 0 can be replaced.
    """

    num_frames: int = 8
    max_objects: int = 3
    max_stride: int = 2
    reverse_time_prob: float = 0.0
    spare_objects: int = 3

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.max_objects < 1 or self.max_stride < 1 or self.spare_objects < 0:
            raise InputError(f"clip sampling needs num_frames, max_objects, max_stride >= 1 and spare_objects >= 0, "
                             f"got {self}")
        if not 0.0 <= self.reverse_time_prob <= 1.0:
            raise InputError(f"reverse_time_prob must be in [0, 1], got {self.reverse_time_prob}")

    @property
    def max_candidates(self) -> int:
        return self.max_objects + self.spare_objects


@dataclass
class RawClip:
    """One sampled clip in its source's pixel frame.

    frames: T arrays H x W x 3 uint8 (one size for the clip). masks: T x O x H x W bool, GT of
    candidate object o on frame t (all False where it is absent); every candidate has pixels on
    frame 0; candidates are in random order (the first ones are preferred). object_ids: O ids.
    key: "source/item@first+stride", e.g. "davis2017/bear@00012+2" (a reversed clip: "@00020-2").
    """

    frames: list
    masks: np.ndarray
    object_ids: tuple
    key: str

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError(f"{self.key}: a clip needs at least one frame")
        hw = self.frames[0].shape[:2]
        if any(f.shape != (*hw, 3) or f.dtype != np.uint8 for f in self.frames):
            raise InputError(f"{self.key}: clip frames must all be {hw[0]} x {hw[1]} x 3 uint8, got "
                             f"{sorted({(f.shape, str(f.dtype)) for f in self.frames})}")
        if self.masks.dtype != bool or self.masks.shape[:1] + self.masks.shape[2:] != (len(self.frames), *hw):
            raise InputError(f"{self.key}: clip masks must be T x O x {hw[0]} x {hw[1]} bool with T = "
                             f"{len(self.frames)}, got {self.masks.shape} {self.masks.dtype}")
        if len(self.object_ids) != self.masks.shape[1]:
            raise ValueError(f"{self.key}: {self.masks.shape[1]} masks but {len(self.object_ids)} object ids")

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def sample_frame_indices(rng: np.random.Generator, num_available: int, sampling: ClipSampling) -> tuple[list[int], int]:
    """(T indices into a video's annotated frames, signed stride) for one clip.

    The stride is uniform in 1..min(max_stride, what fits), the start uniform among those that fit;
    with probability reverse_time_prob the clip runs backwards (the stride is then negative).
    """
    t = sampling.num_frames
    if num_available < t:
        raise SamkitError(f"cannot draw {t} frames from a video with {num_available} annotated frames")
    max_stride = min(sampling.max_stride, (num_available - 1) // (t - 1)) if t > 1 else 1
    stride = int(rng.integers(1, max_stride + 1))
    start = int(rng.integers(0, num_available - (t - 1) * stride))
    indices = [start + k * stride for k in range(t)]
    if rng.random() < sampling.reverse_time_prob:
        return indices[::-1], -stride
    return indices, stride


def pick_candidates(rng: np.random.Generator, visible: list, sampling: ClipSampling) -> list:
    """Up to max_objects + spare_objects of the objects visible on frame 0, in random order."""
    order = rng.permutation(len(visible))[: sampling.max_candidates]
    return [visible[i] for i in order]


def clip_key(source: str, item: str, first_frame: str, stride: int) -> str:
    return f"{source}/{item}@{first_frame}{'+' if stride > 0 else '-'}{abs(stride)}"
