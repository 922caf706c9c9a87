"""Mask metrics of the interactive protocols: IoU, NoC@t, mIoU-after-k-clicks, COCO size buckets.

All masks are H x W bool arrays in original-image pixels.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

NOC_MAX_CLICKS = 20
# COCO's object-size ranges, in pixels of (annotated) area: small < 32^2 <= medium < 96^2 <= large.
COCO_AREA_RANGES: dict[str, tuple[float, float]] = {
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, float("inf")),
}


def mask_iou(pred_mask: np.ndarray, gt_mask: np.ndarray) -> float:
    """Intersection over union of two H x W bool masks; 1.0 when both are empty."""
    pred = np.asarray(pred_mask, dtype=bool)
    gt = np.asarray(gt_mask, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and GT {gt.shape} differ in size")
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def size_bucket(area_px: float) -> str:
    """'small', 'medium' or 'large' for an object area in pixels (COCO ranges)."""
    for name, (lo, hi) in COCO_AREA_RANGES.items():
        if lo <= area_px < hi:
            return name
    raise ValueError(f"object area must be >= 0, got {area_px}")


def number_of_clicks(ious_per_click: Sequence[float], iou_threshold: float,
                     max_clicks: int = NOC_MAX_CLICKS) -> int:
    """Clicks needed to first reach `iou_threshold` (ious_per_click[k-1] = IoU after k clicks).

    An object that never reaches it within `max_clicks` counts as `max_clicks` (the literature's
    NoC cap of 20); only the first `max_clicks` entries are looked at.
    """
    for k, iou in enumerate(list(ious_per_click)[:max_clicks], start=1):
        if iou >= iou_threshold:
            return k
    return max_clicks


def miou_curve(per_object_ious: Iterable[Sequence[float]], num_clicks: int) -> list[float]:
    """Mean over objects of the IoU after k = 1..num_clicks clicks.

    A trajectory shorter than `num_clicks` (the protocol stopped at a perfect mask) keeps its last
    IoU for the remaining clicks, as the user would simply stop clicking.
    """
    rows = []
    for ious in per_object_ious:
        ious = list(ious)
        if not ious:
            raise ValueError("an object has no IoU at all (no click was simulated)")
        rows.append((ious + [ious[-1]] * num_clicks)[:num_clicks])
    if not rows:
        return []
    return np.mean(np.asarray(rows, dtype=np.float64), axis=0).tolist()


def fraction_failed(ious_per_object: Iterable[Sequence[float]], iou_threshold: float,
                    max_clicks: int = NOC_MAX_CLICKS) -> float:
    """Share of objects that never reach `iou_threshold` within `max_clicks` clicks (NoF / N)."""
    flags = [max(list(ious)[:max_clicks]) < iou_threshold for ious in ious_per_object]
    return float(np.mean(flags)) if flags else float("nan")
