"""Clip augmentation and SAM 2 input preparation, the same random draw for every frame of a clip.

Follows the SAM 2 reference's video transforms (training/dataset/transforms.py with the settings of
its sam2.1 MOSE fine-tuning config): a consistent horizontal flip, a consistent random affine
(rotation up to 25 degrees, x-shear up to 20 degrees; skipped when it would push chosen objects out
of frame 0), a square resize to S x S without keeping the aspect ratio (RandomResizeAPI square,
as SAM2Transforms does at inference), a consistent colour jitter and grayscale, a per-frame colour
jitter (Pillow's ImageEnhance, as the reference's torchvision ColorJitter on PIL images), then
ImageNet normalisation. samkit adds a random crop before the resize (crop_area_min < 1;
1 is the reference's whole frame).

Frames: source (the clip's frames as read, H x W) -> model input (S x S). Masks follow the same
geometry, resized with antialiasing and kept where >= 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance

from samkit.data.affine_warp import affine_matrix, warp_image, warp_masks
from samkit.data.clips import RawClip
from samkit.errors import InputError

# SAM 2's normalisation (samkit.inference.sam2_transforms IMAGE_MEAN / IMAGE_STD; data/ may not import
# inference/, a test checks the two agree).
SAM2_PIXEL_MEAN = (0.485, 0.456, 0.406)
SAM2_PIXEL_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ClipAugmentConfig:
    """Clip augmentation; defaults are the reference's (crop_area_min excepted). Colour factors f
    are drawn in [1 - f, 1 + f]; the first three apply to the whole clip, frame_* to each frame."""

    hflip_prob: float = 0.5
    rotation_deg: float = 25.0
    shear_deg: float = 20.0
    crop_area_min: float = 0.6
    brightness: float = 0.1
    contrast: float = 0.03
    saturation: float = 0.03
    grayscale_prob: float = 0.05
    frame_brightness: float = 0.1
    frame_contrast: float = 0.05
    frame_saturation: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 < self.crop_area_min <= 1.0:
            raise InputError(f"crop_area_min must be in (0, 1], got {self.crop_area_min}")


_ENHANCERS = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)  # brightness, contrast, saturation


def _draw_jitter(rng: np.random.Generator, strengths: tuple[float, float, float]) -> tuple[list, list]:
    """(random order of the three adjustments, their factors; None where the strength is 0)."""
    factors = [float(rng.uniform(max(0.0, 1 - s), 1 + s)) if s > 0 else None for s in strengths]
    return [int(i) for i in rng.permutation(3)], factors


def _apply_jitter(image: Image.Image, order: list, factors: list) -> Image.Image:
    for which in order:
        if factors[which] is not None:
            image = _ENHANCERS[which](image).enhance(factors[which])
    return image


def color_jitter(frames: list, rng: np.random.Generator, augment: ClipAugmentConfig) -> list:
    """T frames H x W x 3 uint8 -> jittered: one clip-wide brightness / contrast / saturation draw and
    grayscale coin, then one draw per frame. Pillow's ImageEnhance on uint8, as torchvision's
    ColorJitter does on the PIL images of the reference pipeline (fast, and the same rounding)."""
    order, factors = _draw_jitter(rng, (augment.brightness, augment.contrast, augment.saturation))
    gray = rng.random() < augment.grayscale_prob
    out = []
    for frame in frames:
        image = _apply_jitter(Image.fromarray(np.ascontiguousarray(frame)), order, factors)
        if gray:
            image = image.convert("L").convert("RGB")
        strengths = (augment.frame_brightness, augment.frame_contrast, augment.frame_saturation)
        out.append(np.asarray(_apply_jitter(image, *_draw_jitter(rng, strengths))))
    return out


def _writable(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous, writable array for torch.from_numpy (decoded images are read-only), copied only if needed."""
    return np.require(arr, requirements=["C", "W"])


def resize_square(frame: np.ndarray, size: int) -> torch.Tensor:
    """H x W x 3 uint8 -> 3 x S x S float in [0, 1]: SAM2Transforms' antialiased bilinear resize."""
    x = torch.from_numpy(_writable(frame)).permute(2, 0, 1).to(torch.float32).div_(255)
    return F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


def resize_masks_square(masks: np.ndarray, size: int) -> torch.Tensor:
    """N x H x W bool -> N x S x S bool (antialiased bilinear, kept where >= 0.5)."""
    if len(masks) == 0:
        return torch.zeros((0, size, size), dtype=torch.bool)
    if masks.shape[1:] == (size, size):
        return torch.from_numpy(_writable(masks))
    m = torch.from_numpy(_writable(masks)).to(torch.float32)[:, None]
    return F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[:, 0] >= 0.5


def _geometry(frames: list, masks: np.ndarray, rng: np.random.Generator, augment: ClipAugmentConfig,
              max_objects: int) -> tuple[list, np.ndarray]:
    """Flip, affine and crop in the source frame (same for every frame of the clip)."""
    h, w = frames[0].shape[:2]
    if rng.random() < augment.hflip_prob:
        frames, masks = [f[:, ::-1] for f in frames], masks[..., ::-1]
    if augment.rotation_deg > 0 or augment.shear_deg > 0:
        matrix = affine_matrix(h, w, rotation_deg=float(rng.uniform(-augment.rotation_deg, augment.rotation_deg)),
                               shear_deg=float(rng.uniform(-augment.shear_deg, augment.shear_deg)))
        first = warp_masks(np.ascontiguousarray(masks[0]), matrix)
        # The reference skips the affine when it empties an object on frame 0; with spare candidates,
        # it is skipped only when fewer than max_objects (or all, if fewer) would stay in view.
        if first.any(axis=(1, 2)).sum() >= min(max_objects, masks.shape[1]):
            frames = [warp_image(np.ascontiguousarray(f), matrix) for f in frames]
            masks = np.stack([first] + [warp_masks(np.ascontiguousarray(m), matrix) for m in masks[1:]])
    area = float(rng.uniform(augment.crop_area_min, 1.0))
    ch, cw = max(1, round(h * math.sqrt(area))), max(1, round(w * math.sqrt(area)))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    frames = [f[y0:y0 + ch, x0:x0 + cw] for f in frames]
    return frames, masks[..., y0:y0 + ch, x0:x0 + cw]


def transform_clip(clip: RawClip, img_size: int, rng: np.random.Generator, augment: ClipAugmentConfig | None,
                   max_objects: int, min_mask_area_px: int) -> dict:
    """RawClip -> model-ready clip.

    Returns {"images": T x 3 x S x S float32 (normalised), "masks": T x O x S x S bool, "key",
    "object_ids"}: the first max_objects candidates (in the clip's random order) with at least
    min_mask_area_px pixels on frame 0 after augmentation; O may be 0 (the caller draws again).
    """
    frames, masks = clip.frames, clip.masks
    if augment is not None:
        frames, masks = _geometry(frames, masks, rng, augment, max_objects)
    # Masks first, and only the frame-0 masks of every candidate: the others are resized for the kept ones.
    first = resize_masks_square(masks[0], img_size)
    keep = [o for o in range(masks.shape[1]) if int(first[o].sum()) >= min_mask_area_px][:max_objects]
    out_masks = torch.zeros((len(frames), len(keep), img_size, img_size), dtype=torch.bool)
    out_masks[0] = first[keep]
    for t in range(1, len(frames)):
        out_masks[t] = resize_masks_square(masks[t][keep], img_size)
    if augment is not None:
        # Colour before the resize (the reference jitters after it): pointwise but for contrast's
        # image mean, so the result is the same up to rounding, and cheaper on frames under S x S.
        frames = color_jitter(frames, rng, augment)
    images = torch.empty((len(frames), 3, img_size, img_size), dtype=torch.float32)
    for t, frame in enumerate(frames):
        images[t] = resize_square(frame, img_size)
    images.sub_(torch.tensor(SAM2_PIXEL_MEAN).view(1, 3, 1, 1)).div_(torch.tensor(SAM2_PIXEL_STD).view(1, 3, 1, 1))
    return {"images": images, "masks": out_masks, "key": clip.key, "object_ids": tuple(clip.object_ids[o] for o in keep)}
