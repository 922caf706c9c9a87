"""DAVIS video-object-segmentation metrics: region similarity J, boundary accuracy F, J&F.

J is the mask IoU (1 when prediction and GT are both empty). F is the boundary F-measure: the
one-pixel boundaries of prediction and GT are matched within a tolerance of
ceil(bound_th x image diagonal) pixels (DAVIS uses bound_th = 0.008), precision = share of
predicted boundary pixels near a GT boundary pixel, recall = the converse, F = 2PR / (P + R).
Per sequence, the first frame (given to the method as the reference) is excluded by default,
following the DAVIS 2016 semi-supervised protocol.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from samkit.evaluation.metrics import mask_iou

DAVIS_BOUND_TH = 0.008


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """H x W bool: object pixels with a 4-neighbour outside the object (the image edge counts as
    outside, so an object touching the frame has a boundary there too)."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    inner = m[1:-1, 1:-1]
    interior = m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return inner & ~interior


def _dilate(boundary: np.ndarray, radius_px: int) -> np.ndarray:
    if radius_px <= 0:
        return boundary
    size = 2 * radius_px + 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.dilate(boundary.astype(np.uint8), disk).astype(bool)


def boundary_f_measure(pred_mask: np.ndarray, gt_mask: np.ndarray, bound_th: float = DAVIS_BOUND_TH) -> float:
    """DAVIS F for one frame (H x W bool masks); 1.0 when neither has a boundary."""
    pred = np.asarray(pred_mask, dtype=bool)
    gt = np.asarray(gt_mask, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and GT {gt.shape} differ in size")
    tol_px = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*gt.shape))
    pb, gb = mask_boundary(pred), mask_boundary(gt)
    n_pred, n_gt = int(pb.sum()), int(gb.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    precision = float((pb & _dilate(gb, int(tol_px))).sum()) / n_pred
    recall = float((gb & _dilate(pb, int(tol_px))).sum()) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def sequence_j_and_f(pred_masks: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray],
                     skip_first: bool = True, bound_th: float = DAVIS_BOUND_TH) -> dict[str, float]:
    """Mean J, mean F, J&F (their average) and J-recall (share of frames with J > 0.5) over the
    frames of one object track (lists of H x W bool masks, same length)."""
    if len(pred_masks) != len(gt_masks):
        raise ValueError(f"{len(pred_masks)} predicted frames but {len(gt_masks)} GT frames")
    start = 1 if skip_first and len(gt_masks) > 1 else 0
    js = [mask_iou(p, g) for p, g in zip(pred_masks[start:], gt_masks[start:])]
    fs = [boundary_f_measure(p, g, bound_th) for p, g in zip(pred_masks[start:], gt_masks[start:])]
    if not js:
        raise ValueError("no frame to evaluate")
    j, f = float(np.mean(js)), float(np.mean(fs))
    return {"J": j, "F": f, "J&F": (j + f) / 2, "J_recall": float(np.mean(np.asarray(js) > 0.5)),
            "frames": len(js)}
