"""Affine warps of frames and masks, shared by the still-image clips (a motion per frame) and the
clip augmentation (one affine for the whole clip).

Coordinates are continuous pixels: the image covers [0, W] x [0, H] and pixel (i, j) has its
centre at (j + 0.5, i + 0.5); a matrix is 3 x 3 and maps a source point (x, y, 1) to its place in
the warped frame. Pillow resamples (fast on uint8 and its pixel convention is this one), so an
integer translation moves every pixel exactly.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

# The reference fills uncovered pixels with the ImageNet mean colour (training/dataset/transforms.py
# RandomAffine image_mean), which is 0 after normalisation: an empty border carries no signal.
FILL_RGB = (123, 116, 103)


def affine_matrix(h: int, w: int, shift_xy: tuple[float, float] = (0.0, 0.0), scale: float = 1.0,
                  rotation_deg: float = 0.0, shear_deg: float = 0.0) -> np.ndarray:
    """3 x 3 map that scales, shears (along x), rotates (counter-clockwise on screen) about the image
    centre, then shifts by shift_xy pixels."""
    cx, cy = w / 2.0, h / 2.0
    a = math.radians(rotation_deg)
    rot = np.array([[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1]])  # y points down
    shear = np.array([[1, math.tan(math.radians(shear_deg)), 0], [0, 1, 0], [0, 0, 1]])
    zoom = np.diag([scale, scale, 1.0])
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    back = np.array([[1, 0, cx + shift_xy[0]], [0, 1, cy + shift_xy[1]], [0, 0, 1]])
    return back @ rot @ shear @ zoom @ to_origin


def is_identity(matrix: np.ndarray, tol: float = 1e-9) -> bool:
    return bool(np.allclose(matrix, np.eye(3), atol=tol))


def _pil_coefficients(matrix: np.ndarray) -> tuple:
    """Pillow wants the inverse map (output point -> source point), its first two rows."""
    inv = np.linalg.inv(matrix)
    return tuple(float(v) for v in inv[:2].reshape(-1))


def warp_image(image: np.ndarray, matrix: np.ndarray, fill: tuple[int, int, int] = FILL_RGB) -> np.ndarray:
    """H x W x 3 uint8 -> the same size, warped by `matrix` (bilinear), uncovered pixels = fill."""
    if is_identity(matrix):
        return image
    h, w = image.shape[:2]
    out = Image.fromarray(image).transform((w, h), Image.AFFINE, _pil_coefficients(matrix), Image.BILINEAR,
                                           fillcolor=fill)
    return np.asarray(out)


def warp_masks(masks: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """N x H x W bool -> the same shape, warped like `warp_image` (bilinear on 0/255, kept where >= 128,
    so edges are as smooth as the image's); what leaves the frame is gone."""
    if is_identity(matrix) or len(masks) == 0:
        return masks
    h, w = masks.shape[1:]
    coeffs = _pil_coefficients(matrix)
    out = np.empty_like(masks)
    for i, m in enumerate(masks):
        im = Image.fromarray(m.astype(np.uint8) * 255).transform((w, h), Image.AFFINE, coeffs, Image.BILINEAR,
                                                                 fillcolor=0)
        out[i] = np.asarray(im) >= 128
    return out
