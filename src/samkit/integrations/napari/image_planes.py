"""napari image layer data -> the H x W x 3 uint8 RGB planes that SAM takes, and the shape checks.

A layer is 2D (Y x X), or a stack with one leading axis (Z x Y x X: z-slices, or T x Y x X: time);
rgb layers have a trailing channel axis of 3 (or 4: RGBA, alpha dropped). Grayscale (EM, CT,
fluorescence) is repeated into 3 channels. uint8 data is used as it is; other dtypes (uint16,
float) are scaled by the layer's contrast limits, i.e. as the user sees them on screen.
"""

from __future__ import annotations

import numpy as np

from samkit.errors import InputError


def spatial_ndim(shape: tuple[int, ...], rgb: bool) -> int:
    """The number of non-channel axes of a layer's data."""
    return len(shape) - (1 if rgb else 0)


def check_layer_shape(shape: tuple[int, ...], rgb: bool, allowed: tuple[int, ...], what: str) -> int:
    """spatial_ndim of a layer if it is one of `allowed` (2: an image, 3: a stack), else InputError
    naming the layer's shape and what `what` (the widget) works on."""
    nd = spatial_ndim(tuple(shape), rgb)
    if rgb and shape[-1] not in (3, 4):
        raise InputError(f"{what}: an RGB layer must have 3 or 4 channels last, got shape {tuple(shape)}")
    if nd not in allowed:
        kinds = " or ".join({2: "a 2D image (Y x X)", 3: "a stack (Z x Y x X or T x Y x X)"}[a] for a in allowed)
        raise InputError(f"{what} works on {kinds}{' with RGB channels last' if rgb else ''}; this layer is "
                         f"{nd}D with shape {tuple(shape)}. Pick another layer, or split it "
                         f"(napari: right-click the layer > Split Stack)")
    return nd


def to_rgb_uint8(plane, contrast_limits: tuple[float, float] | None = None) -> np.ndarray:
    """One Y x X (gray) or Y x X x 3/4 (RGB[A]) plane -> Y x X x 3 uint8.

    contrast_limits: (low, high) mapped to 0..255 for non-uint8 data (default: the plane's min/max)."""
    arr = np.asarray(plane)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise InputError(f"expected a Y x X or Y x X x 3 plane, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        lo, hi = contrast_limits if contrast_limits is not None else (float(np.nanmin(arr)), float(np.nanmax(arr)))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr = np.clip((np.nan_to_num(arr.astype(np.float32)) - lo) * scale, 0, 255).round().astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.ascontiguousarray(arr)


def layer_plane(data, rgb: bool, slice_index: int | None, contrast_limits=None) -> np.ndarray:
    """Plane `slice_index` of a stack (or the image itself when 2D) as Y x X x 3 uint8."""
    nd = spatial_ndim(tuple(data.shape), rgb)
    if nd == 2:
        return to_rgb_uint8(data, contrast_limits)
    if slice_index is None or not 0 <= slice_index < data.shape[0]:
        raise InputError(f"slice {slice_index} is outside the stack (it has {data.shape[0]} slices)")
    return to_rgb_uint8(data[slice_index], contrast_limits)


def stack_planes(data, rgb: bool, contrast_limits=None) -> np.ndarray:
    """A stack layer's data -> Z x Y x X x 3 uint8 (every slice, as the model will see them)."""
    check_layer_shape(tuple(data.shape), rgb, (3,), "propagation")
    return np.stack([to_rgb_uint8(data[i], contrast_limits) for i in range(data.shape[0])])
