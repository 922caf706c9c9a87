"""Validation of user prompts in the original image frame, with errors that say what was wrong."""

from __future__ import annotations

import numpy as np

from samkit.errors import InputError


def _finite(name: str, arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinite values")


def check_points(point_coords, point_labels, original_hw: tuple[int, int], batched: bool = False):
    """Return (coords float64 [B x] N x 2, labels int [B x] N) or raise InputError.

    Points must lie inside the image, allowing the far edge itself: x in [0, W], y in [0, H].
    """
    if point_coords is None and point_labels is None:
        return None, None
    if point_coords is None or point_labels is None:
        raise InputError("point_coords and point_labels must be given together")
    coords = np.asarray(point_coords, dtype=np.float64)
    labels = np.asarray(point_labels)
    lead = 2 if batched else 1
    if coords.ndim != lead + 1 or coords.shape[-1] != 2:
        want = "B x N x 2" if batched else "N x 2"
        raise InputError(f"point_coords must have shape {want} (x, y), got {coords.shape}")
    if labels.shape != coords.shape[:-1]:
        raise InputError(f"point_labels shape {labels.shape} does not match point_coords {coords.shape}")
    if coords.shape[-2] == 0:
        raise InputError("point_coords is empty; pass None for no points")
    _finite("point_coords", coords)
    if not np.isin(labels, (-1, 0, 1, 2, 3)).all():
        raise InputError(f"point_labels must be 1 (foreground), 0 (background) or -1 (padding); got "
                         f"{sorted(set(np.unique(labels).tolist()) - {-1, 0, 1, 2, 3})}")
    h, w = original_hw
    bad = (coords[..., 0] < 0) | (coords[..., 0] > w) | (coords[..., 1] < 0) | (coords[..., 1] > h)
    bad &= labels != -1
    if bad.any():
        x, y = coords[bad][0]
        raise InputError(f"point ({x:g}, {y:g}) is outside the {w}x{h} image (x in [0, {w}], y in [0, {h}])")
    return coords, labels.astype(np.int64)


def check_boxes(box, original_hw: tuple[int, int], batched: bool = False) -> np.ndarray | None:
    """Return boxes as float64 [B x] 4 xyxy or raise InputError (inverted or outside the image)."""
    if box is None:
        return None
    boxes = np.asarray(box, dtype=np.float64)
    if batched:
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise InputError(f"boxes must have shape B x 4 (x0, y0, x1, y1), got {boxes.shape}")
    elif boxes.shape not in ((4,), (1, 4)):
        raise InputError(f"box must have shape (4,) as x0, y0, x1, y1; got {boxes.shape}")
    _finite("box", boxes)
    b = boxes.reshape(-1, 4)
    h, w = original_hw
    if ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any():
        i = int(np.nonzero((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))[0][0])
        raise InputError(f"box {b[i].tolist()} has x1 < x0 or y1 < y0; expected x0, y0, x1, y1")
    outside = (b[:, [0, 2]] < 0).any(1) | (b[:, [0, 2]] > w).any(1) | (b[:, [1, 3]] < 0).any(1) | (b[:, [1, 3]] > h).any(1)
    if outside.any():
        raise InputError(f"box {b[int(np.nonzero(outside)[0][0])].tolist()} is outside the {w}x{h} image")
    return boxes.reshape(-1, 4) if not batched else boxes


def check_mask_input(mask_input, low_res_hw: tuple[int, int], batch: int | None = None) -> np.ndarray | None:
    """Low-res mask logits 1 x h x w (or B x 1 x h x w when batch is given)."""
    if mask_input is None:
        return None
    m = np.asarray(mask_input, dtype=np.float32)
    want = (1, *low_res_hw) if batch is None else (batch, 1, *low_res_hw)
    if m.shape != want:
        raise InputError(f"mask_input must have shape {' x '.join(map(str, want))} (low-res logits from a "
                         f"previous prediction), got {m.shape}")
    _finite("mask_input", m)
    return m
