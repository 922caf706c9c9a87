"""napari Points / Shapes layer data -> SAM prompts on one slice.

napari stores coordinates as (row, col) = (y, x), with a leading slice (z or t) axis for stacks;
SAM takes (x, y). A point's sign is its `positive` feature (True: foreground, label 1; False:
background, label 0); a box is the last rectangle drawn on the slice, as x0, y0, x1, y1 pixels.
Points and rectangles count for slice k when their slice coordinate rounds to k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samkit.errors import InputError

POSITIVE_FEATURE = "positive"


@dataclass
class SlicePrompts:
    """Prompts of one object on one slice, in that slice's pixels.

    points_xy: P x 2 float32 (x, y); point_labels: P int32 (1 fg, 0 bg); box_xyxy: (4,) or None."""

    points_xy: np.ndarray
    point_labels: np.ndarray
    box_xyxy: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return len(self.points_xy) == 0 and self.box_xyxy is None


def _on_slice(slice_coords: np.ndarray, slice_index: int | None) -> np.ndarray:
    if slice_index is None:
        return np.ones(len(slice_coords), dtype=bool)
    return np.round(slice_coords).astype(np.int64) == int(slice_index)


def points_on_slice(points_data, positive, slice_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """points_data: N x 2 (y, x) or N x 3 (slice, y, x); positive: N bools (None: all positive).
    Returns (points_xy P x 2 float32, labels P int32) of the points on `slice_index` (all when None)."""
    pts = np.asarray(points_data, dtype=np.float64).reshape(-1, np.shape(points_data)[-1] if len(points_data) else 2)
    if pts.shape[1] not in (2, 3):
        raise InputError(f"the points layer must be 2D or 3D (one slice axis), got {pts.shape[1]} dimensions")
    signs = np.ones(len(pts), dtype=bool) if positive is None else np.asarray(positive, dtype=bool).reshape(-1)
    if len(signs) != len(pts):
        raise InputError(f"{len(pts)} points but {len(signs)} '{POSITIVE_FEATURE}' values")
    keep = _on_slice(pts[:, 0], slice_index) if pts.shape[1] == 3 else np.ones(len(pts), dtype=bool)
    yx = pts[keep][:, -2:]
    return np.ascontiguousarray(yx[:, ::-1], dtype=np.float32), signs[keep].astype(np.int32)


def box_on_slice(shapes_data, shape_types, slice_index: int | None) -> np.ndarray | None:
    """The last rectangle of a Shapes layer on `slice_index` as (x0, y0, x1, y1) float32, or None.
    shapes_data: list of V x 2 or V x 3 vertex arrays; shape_types: their napari shape types."""
    box = None
    for verts, kind in zip(shapes_data, shape_types):
        v = np.asarray(verts, dtype=np.float64)
        if kind != "rectangle" or v.ndim != 2 or v.shape[1] not in (2, 3):
            continue
        if v.shape[1] == 3 and not _on_slice(v[:1, 0], slice_index)[0]:
            continue
        ys, xs = v[:, -2], v[:, -1]
        box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)
    return box


def slice_prompts(points_data, positive, shapes_data, shape_types, slice_index: int | None) -> SlicePrompts:
    """Everything the user placed on one slice: its points and its last box."""
    points_xy, labels = points_on_slice(points_data, positive, slice_index)
    return SlicePrompts(points_xy, labels, box_on_slice(shapes_data, shape_types, slice_index))
