"""Removal of small disconnected islands and small holes in masks (OpenCV connected components)."""

from __future__ import annotations

import numpy as np


def remove_small_regions(mask_hw: np.ndarray, area_thresh: float, mode: str) -> tuple[np.ndarray, bool]:
    """Fill holes ("holes") or drop islands ("islands") smaller than area_thresh pixels.

    Returns (new H x W bool mask, changed). Connectivity is 8. If every island is small, the
    largest one is kept so a mask never becomes empty this way.
    """
    import cv2  # optional dependency (extra "amg"), only needed with min_mask_region_area > 0

    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}")
    fill_holes = mode == "holes"
    working = (np.asarray(mask_hw, dtype=bool) ^ fill_holes).astype(np.uint8)
    n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(working, connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]  # row 0 is the background of `working`
    small = np.flatnonzero(sizes < area_thresh) + 1
    if small.size == 0:
        return np.asarray(mask_hw, dtype=bool), False
    if fill_holes:
        # Pixels that are background of `working` (the mask) or in a small hole become mask.
        return np.isin(labels, np.concatenate([[0], small])), True
    keep = np.setdiff1d(np.arange(1, n_labels), small)
    if keep.size == 0:
        keep = np.array([int(np.argmax(sizes)) + 1])
    return np.isin(labels, keep), True
