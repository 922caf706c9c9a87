"""Resize-longest-side + pad, with augmentation applied to image and masks together.

Frames: the *original* frame is the image as stored (H x W). The *model-input* frame is
img_size x img_size: the image is scaled so its longest side is img_size (times a random
scale-jitter factor), randomly cropped to at most img_size per side, optionally flipped,
normalised with the model's pixel mean/std, and zero-padded at the bottom/right exactly as
`Sam.preprocess` does. Masks go through the same geometry, so every output mask lies in the
model-input frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from samkit.data.records import InstanceSample


@dataclass(frozen=True)
class AugmentConfig:
    """Joint image+mask augmentation. scale_* multiply the resize-longest-side scale; a scale
    above 1 makes the image larger than img_size and a random img_size crop is taken."""

    hflip_prob: float = 0.5
    vflip_prob: float = 0.0
    scale_min: float = 0.75
    scale_max: float = 1.25


def _resize_rgb(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == hw:
        return image
    return np.asarray(Image.fromarray(image).resize((hw[1], hw[0]), Image.BILINEAR))


def _resize_mask(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Antialiased resize of a binary mask (bilinear on 0/255, threshold at half)."""
    if mask.shape == hw:
        return mask
    small = Image.fromarray(mask.astype(np.uint8) * 255).resize((hw[1], hw[0]), Image.BILINEAR)
    return np.asarray(small) >= 128


def prepare_example(
    sample: InstanceSample,
    img_size: int,
    pixel_mean: tuple[float, float, float],
    pixel_std: tuple[float, float, float],
    rng: np.random.Generator,
    augment: AugmentConfig | None = None,
    max_masks: int = 16,
    min_mask_area_px: int = 16,
) -> dict:
    """InstanceSample -> model-ready example.

    Returns a dict with image (3 x S x S float32, normalised, zero-padded), masks (n x S x S bool,
    model-input frame, n <= max_masks, each with >= min_mask_area_px pixels), input_hw (the valid,
    unpadded region), orig_hw, key and instance_ids of the chosen masks.
    """
    h, w = sample.image_rgb.shape[:2]
    scale = img_size / max(h, w)
    if augment is not None:
        scale *= float(rng.uniform(augment.scale_min, augment.scale_max))
    new_hw = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
    crop_hw = (min(new_hw[0], img_size), min(new_hw[1], img_size))
    y0 = int(rng.integers(0, new_hw[0] - crop_hw[0] + 1)) if new_hw[0] > img_size else 0
    x0 = int(rng.integers(0, new_hw[1] - crop_hw[1] + 1)) if new_hw[1] > img_size else 0
    hflip = augment is not None and rng.random() < augment.hflip_prob
    vflip = augment is not None and rng.random() < augment.vflip_prob

    def geometry(arr: np.ndarray) -> np.ndarray:
        arr = arr[y0:y0 + crop_hw[0], x0:x0 + crop_hw[1]]
        if hflip:
            arr = arr[:, ::-1]
        if vflip:
            arr = arr[::-1]
        return arr

    image = geometry(_resize_rgb(sample.image_rgb, new_hw)).astype(np.float32)
    image = (image - np.asarray(pixel_mean, np.float32)) / np.asarray(pixel_std, np.float32)
    padded = np.zeros((3, img_size, img_size), np.float32)
    padded[:, : crop_hw[0], : crop_hw[1]] = image.transpose(2, 0, 1)

    # Visit instances in random order and stop once max_masks usable ones are found, so an image
    # with 100 instances costs ~max_masks mask resizes, not 100.
    masks, ids = [], []
    # Cheap pre-filter in the original frame: the crop window mapped back (with a 1 px margin).
    oy0, oy1 = int(y0 / scale) - 1, int(np.ceil((y0 + crop_hw[0]) / scale)) + 1
    ox0, ox1 = int(x0 / scale) - 1, int(np.ceil((x0 + crop_hw[1]) / scale)) + 1
    min_orig_area = min_mask_area_px / (scale * scale) * 0.5
    for i in rng.permutation(len(sample.masks)):
        if len(masks) >= max_masks:
            break
        m = sample.masks[i]
        if m[max(oy0, 0):oy1, max(ox0, 0):ox1].sum() < min_orig_area:
            continue
        out = np.ascontiguousarray(geometry(_resize_mask(m, new_hw)))
        if out.sum() < min_mask_area_px:
            continue
        full = np.zeros((img_size, img_size), bool)
        full[: crop_hw[0], : crop_hw[1]] = out
        masks.append(full)
        ids.append(sample.instance_ids[i] if i < len(sample.instance_ids) else int(i))
    mask_t = torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, img_size, img_size), dtype=torch.bool)
    return {
        "image": torch.from_numpy(padded), "masks": mask_t, "input_hw": crop_hw, "orig_hw": (h, w),
        "key": sample.key, "instance_ids": tuple(ids),
    }
