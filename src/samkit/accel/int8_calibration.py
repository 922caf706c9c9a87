"""Calibration images for the int8 encoder: real photos, preprocessed exactly as set_image does
(SAM 1: longest side resized, normalised, padded; SAM 2: resized to the square input, normalised).

Default set: the photos in $SAMKIT_CALIBRATION_DIR, else the repository's examples/ folder (when
samkit runs from a checkout). NNCF reads activation ranges from them; a handful is enough.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from samkit.errors import InputError
from samkit.image_io import load_image
from samkit.inference.transforms import ResizeLongestSide

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_IMAGES = 8


def default_calibration_paths() -> list[Path]:
    folder = os.environ.get("SAMKIT_CALIBRATION_DIR")
    candidates = [Path(folder)] if folder else [Path(__file__).resolve().parents[3] / "examples"]
    for d in candidates:
        if d.is_dir():
            found = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if found:
                return found[:MAX_IMAGES]
    raise InputError("int8 needs calibration photos: set SAMKIT_CALIBRATION_DIR to a folder of a few "
                     "JPEG/PNG photos like the ones you will segment")


@torch.no_grad()
def calibration_tensors(model: nn.Module, images: list | None = None) -> list[torch.Tensor]:
    """images: paths or H x W x 3 uint8 arrays (None: the default set) -> normalised 1 x 3 x S x S."""
    images = list(images) if images else default_calibration_paths()
    sam2 = hasattr(model, "forward_image")
    if sam2:
        from samkit.inference.sam2_transforms import SAM2Transforms

        sam2_transform = SAM2Transforms(int(model.image_size), mask_threshold=0.0)
    else:
        transform = ResizeLongestSide(int(model.image_encoder.img_size))
    out = []
    for im in images:
        pixels = load_image(im) if isinstance(im, (str, os.PathLike)) else np.asarray(im)
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise InputError(f"calibration image must be H x W x 3 uint8, got {pixels.shape} {pixels.dtype}")
        if sam2:
            out.append(sam2_transform(np.ascontiguousarray(pixels))[None].cpu())
            continue
        x = torch.as_tensor(transform.apply_image(pixels)).permute(2, 0, 1)[None].float()
        out.append(model.preprocess(x.to(model.pixel_mean.device)).cpu())
    return out
