"""Clips made from still photos by a smooth random affine motion, the usual trick when real video is
scarce (SAM 2 trains on SA-1B images the same way, and the LabPics / COCO fine-tuning recipes only
have photos).

Frame 0 is the photo itself; later frames drift along a smooth path (translation, zoom, rotation
and a small shear, each following a quadratic Bezier curve from the identity through a random
control point to a random end pose), and the masks move with the pixels. An object that the motion
pushes out of view has an all-False mask on those frames: an occlusion target, as in real video.
With T = 1 the clip is the photo alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from samkit.data.affine_warp import affine_matrix, warp_image, warp_masks
from samkit.data.clips import ClipSampling, RawClip, pick_candidates
from samkit.data.records import InstanceSample
from samkit.data.transforms import _resize_mask, _resize_rgb
from samkit.errors import InputError, SamkitError


@dataclass(frozen=True)
class StillMotion:
    """Bounds of the pose reached by the path's control and end points, relative to frame 0.

    max_shift_frac: translation, as a fraction of the image width / height. max_zoom: scale within
    [1 / max_zoom, max_zoom] (drawn log-uniform). max_rotation_deg, max_shear_deg: degrees either way.
    """

    max_shift_frac: float = 0.2
    max_zoom: float = 1.3
    max_rotation_deg: float = 20.0
    max_shear_deg: float = 5.0

    def __post_init__(self) -> None:
        if self.max_shift_frac < 0 or self.max_zoom < 1 or self.max_rotation_deg < 0 or self.max_shear_deg < 0:
            raise InputError(f"still-image motion needs shift, rotation, shear >= 0 and max_zoom >= 1, got {self}")


def random_motion(rng: np.random.Generator, num_frames: int, h: int, w: int, motion: StillMotion) -> np.ndarray:
    """T x 3 x 3 matrices (photo -> frame t, see samkit.data.affine_warp); frame 0 is the identity."""
    if num_frames == 1:
        return np.eye(3)[None]
    bounds = np.array([motion.max_shift_frac * w, motion.max_shift_frac * h, math.log(motion.max_zoom),
                       motion.max_rotation_deg, motion.max_shear_deg])
    control = rng.uniform(-1.0, 1.0, size=5) * bounds
    end = rng.uniform(-1.0, 1.0, size=5) * bounds
    out = []
    for t in range(num_frames):
        u = t / (num_frames - 1)
        p = 2 * u * (1 - u) * control + u * u * end  # quadratic Bezier from 0: smooth in position and speed
        out.append(affine_matrix(h, w, (p[0], p[1]), math.exp(p[2]), p[3], p[4]))
    return np.stack(out)


def affine_clip(image: np.ndarray, masks: np.ndarray, matrices: np.ndarray) -> tuple[list, np.ndarray]:
    """(T frames H x W x 3 uint8, T x N x H x W bool): the photo and its N masks warped by each matrix."""
    frames = [warp_image(image, m) for m in matrices]
    return frames, np.stack([warp_masks(masks, m) for m in matrices])


def shrink_to_min_side(image: np.ndarray, masks: np.ndarray, min_side_px: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Scale a photo and its masks down so the shorter side is min_side_px (never up): warping an
    SA-1B photo at 1500 x 2250 for a 1024 model input would cost pixels no frame keeps."""
    h, w = image.shape[:2]
    if not min_side_px or min(h, w) <= min_side_px:
        return image, masks
    scale = min_side_px / min(h, w)
    hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = np.stack([_resize_mask(m, hw) for m in masks]) if len(masks) else np.zeros((0, *hw), bool)
    return _resize_rgb(image, hw), small


class StillClip:
    """One photo of a StillClipSource: `sample(rng)` draws a RawClip."""

    def __init__(self, sample: InstanceSample, sampling: ClipSampling, motion: StillMotion, source: str,
                 min_side_px: int | None = None):
        self.photo, self.sampling, self.motion, self.source = sample, sampling, motion, source
        self.min_side_px = min_side_px
        self.key = f"{source}/{Path(sample.key).name}"

    def sample(self, rng: np.random.Generator) -> RawClip:
        photo = self.photo
        visible = [i for i, m in enumerate(photo.masks) if m.any()]
        if not visible:
            raise SamkitError(f"{photo.key}: no mask to track")
        chosen = pick_candidates(rng, visible, self.sampling)
        image, masks = shrink_to_min_side(photo.image_rgb, photo.masks[chosen], self.min_side_px)
        matrices = random_motion(rng, self.sampling.num_frames, *image.shape[:2], self.motion)
        frames, clip_masks = affine_clip(image, masks, matrices)
        ids = tuple(photo.instance_ids[i] if i < len(photo.instance_ids) else i for i in chosen)
        suffix = "@affine" if self.sampling.num_frames > 1 else "@still"
        return RawClip(frames, clip_masks, ids, self.key + suffix)


class StillClipSource(Dataset):
    """Any dataset of InstanceSample (COCO, panoptic, SA-1B, label maps, LabPics, ...) as a clip
    source: item i is the StillClip of photo i. min_side_px: shrink larger photos first (see
    shrink_to_min_side); None keeps them as they are."""

    def __init__(self, images, sampling: ClipSampling, motion: StillMotion = StillMotion(),
                 min_side_px: int | None = None, name: str | None = None):
        self.images, self.sampling, self.motion, self.min_side_px = images, sampling, motion, min_side_px
        self.name = name or str(getattr(images, "name", "images"))
        self.source = self.name  # the prefix of clip keys, kept by split views

    @property
    def issues(self) -> list:
        return list(getattr(self.images, "issues", []))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> StillClip:
        return StillClip(self.images[index], self.sampling, self.motion, self.source, self.min_side_px)

    def keys(self) -> list[str]:
        return self.images.keys()

    def _over(self, images) -> "StillClipSource":
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.images, view.name = images, str(getattr(images, "name", self.name))  # e.g. "coco:x[train]" in logs
        return view

    def split(self, val_fraction: float, seed: int = 0) -> tuple["StillClipSource", "StillClipSource"]:
        """(train, val) by the photos' split rule (RecordDataset.split)."""
        train, val = self.images.split(val_fraction, seed)
        return self._over(train), self._over(val)
