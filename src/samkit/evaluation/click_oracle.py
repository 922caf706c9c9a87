"""Where a simulated user clicks: the standard interactive-segmentation click oracle.

First click: the object pixel farthest from the object's boundary (argmax of the distance
transform of the GT mask). Each next click: the error region (false negatives and false positives
split into 8-connected components) with the largest area; the click goes to that component's
pixel farthest from its boundary, labelled 1 (foreground) when the region was missed and 0
(background) when it was spuriously predicted. The image border counts as a boundary (the mask
is zero-padded before the distance transform) so clicks never sit on the frame edge when a
deeper pixel exists. Ties break on the first pixel in raster order, so the oracle is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np


@dataclass(frozen=True)
class Click:
    """One simulated click: (x, y) in original-image pixels, is_positive = foreground label."""

    x: int
    y: int
    is_positive: bool


def _interior_point_yx(region: np.ndarray) -> tuple[int, int]:
    """(y, x) of the pixel of a non-empty H x W bool region farthest from its boundary."""
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    flat = int(np.argmax(dist))
    return divmod(flat, region.shape[1])


def first_click(gt_mask: np.ndarray) -> Click:
    """The first positive click for an H x W bool GT mask; raises ValueError when it is empty."""
    gt = np.asarray(gt_mask, dtype=bool)
    if not gt.any():
        raise ValueError("cannot click on an empty ground-truth mask")
    y, x = _interior_point_yx(gt)
    return Click(x=int(x), y=int(y), is_positive=True)


def _largest_component(mask: np.ndarray) -> tuple[int, Optional[np.ndarray]]:
    """(area, bool mask) of the largest 8-connected component of `mask`, (0, None) if empty."""
    if not mask.any():
        return 0, None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    best = int(np.argmax(areas))
    return int(areas[best]), labels == best + 1


def next_click(gt_mask: np.ndarray, pred_mask: np.ndarray) -> Optional[Click]:
    """The corrective click for prediction `pred_mask` against `gt_mask` (both H x W bool).

    Returns None when the prediction is already perfect (no error pixel left).
    """
    gt = np.asarray(gt_mask, dtype=bool)
    pred = np.asarray(pred_mask, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"GT mask {gt.shape} and prediction {pred.shape} differ in size")
    fn_area, fn_region = _largest_component(gt & ~pred)
    fp_area, fp_region = _largest_component(pred & ~gt)
    if fn_area == 0 and fp_area == 0:
        return None
    # Missed foreground wins ties: a user first adds what is missing.
    is_positive = fn_area >= fp_area
    region = fn_region if is_positive else fp_region
    y, x = _interior_point_yx(region)
    return Click(x=int(x), y=int(y), is_positive=is_positive)
