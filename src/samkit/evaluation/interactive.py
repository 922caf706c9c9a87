"""The interactive click protocol and the box protocol for one object on a prepared predictor.

Click protocol (as in the SAM paper and the interactive-segmentation literature): the first
click at the object's deepest pixel, each next click in the largest error region (see
`click_oracle`), all previous clicks resent, and the previous round's low-res logits of the
chosen mask fed back as the mask prompt. Which mask is chosen when the predictor returns
several is the `selection`:
- "score": the highest predicted-IoU mask (what a user without the GT gets);
- "oracle": the mask with the best IoU against the GT (the paper's "oracle" upper bound).
Each selection is its own trajectory: the chosen mask decides the next click and is fed back.

Box protocol: one box prompt, single-mask output, either the GT box or a box with the training
noise (each coordinate shifted by N(0, (10% of the box side)^2), clipped to 20 px).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from samkit.evaluation.click_oracle import Click, first_click, next_click
from samkit.evaluation.metrics import NOC_MAX_CLICKS, mask_iou
from samkit.evaluation.predictor_protocol import InteractivePredictor

MULTIMASK_POLICIES = ("first", "always", "never")


@dataclass
class ClickTrajectory:
    """IoU after each click (ious[k-1] after k clicks) and the clicks that were made."""

    ious: list[float] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)
    final_mask: Optional[np.ndarray] = None
    used_multiple_masks: bool = False
    # True while every multi-mask choice so far was also the GT-best mask: then the "oracle"
    # trajectory of a deterministic predictor is this very trajectory and need not be rerun.
    choices_were_oracle: bool = True
    # The predictor's own score (predicted IoU) of the chosen mask after each click, and of every
    # mask of the first click with those masks' real IoUs: what `score_calibration` compares.
    scores: list[float] = field(default_factory=list)
    first_click_scores: list[float] = field(default_factory=list)
    first_click_ious: list[float] = field(default_factory=list)


def _pick(masks: np.ndarray, scores: np.ndarray, gt: np.ndarray, selection: str) -> tuple[int, list[float], int]:
    """(index of the chosen mask among C candidates, the C IoUs with the GT, index the oracle picks)."""
    ious = [mask_iou(m, gt) for m in masks]
    best = int(np.argmax(ious))
    if selection == "oracle":
        idx = best
    elif selection == "score":
        idx = int(np.argmax(np.asarray(scores, dtype=np.float64)))
    else:
        raise ValueError(f"selection must be 'score' or 'oracle', got {selection!r}")
    return idx, ious, best


def run_click_trajectory(
    predictor: InteractivePredictor,
    gt_mask: np.ndarray,
    max_clicks: int = NOC_MAX_CLICKS,
    multimask: str = "first",
    selection: str = "score",
    stop_at_perfect: bool = True,
) -> ClickTrajectory:
    """Simulate up to `max_clicks` clicks on the image already set on `predictor`.

    gt_mask: H x W bool in original-image pixels (the size of the image given to set_image).
    multimask: "first" asks for 3 masks on the first (ambiguous, single-point) click and one
      afterwards, as SAM was trained; "always" / "never" force it on every click.
    When the prediction becomes perfect the user has nothing left to click: the trajectory stops
    (the metrics carry the last IoU forward), unless stop_at_perfect is False.
    """
    if multimask not in MULTIMASK_POLICIES:
        raise ValueError(f"multimask must be one of {MULTIMASK_POLICIES}, got {multimask!r}")
    if max_clicks < 1:
        raise ValueError(f"max_clicks must be >= 1, got {max_clicks}")
    gt = np.asarray(gt_mask, dtype=bool)
    traj = ClickTrajectory()
    click: Optional[Click] = first_click(gt)
    prev_logits: Optional[np.ndarray] = None
    pred = np.zeros_like(gt)
    for k in range(1, max_clicks + 1):
        if click is None:  # perfect mask: only reachable when stop_at_perfect is False
            traj.ious.append(traj.ious[-1])
            continue
        traj.clicks.append(click)
        coords_xy = np.array([[c.x, c.y] for c in traj.clicks], dtype=np.float32)
        labels = np.array([1 if c.is_positive else 0 for c in traj.clicks], dtype=np.int64)
        multi = multimask == "always" or (multimask == "first" and k == 1)
        masks, scores, low_res = predictor.predict(
            point_coords=coords_xy, point_labels=labels,
            mask_input=None if prev_logits is None else prev_logits[None],
            multimask_output=multi,
        )
        if masks.shape[0] > 1:
            traj.used_multiple_masks = True
        idx, ious, oracle_idx = _pick(masks, scores, gt, selection)
        if idx != oracle_idx:
            traj.choices_were_oracle = False
        predicted = np.asarray(scores, dtype=np.float64).ravel()
        if k == 1:
            traj.first_click_scores, traj.first_click_ious = predicted.tolist(), list(ious)
        pred = np.asarray(masks[idx], dtype=bool)
        prev_logits = np.asarray(low_res[idx], dtype=np.float32)
        traj.ious.append(ious[idx])
        traj.scores.append(float(predicted[idx]))
        click = next_click(gt, pred)
        if click is None and stop_at_perfect:
            break
    traj.final_mask = pred
    return traj


def box_from_mask(gt_mask: np.ndarray) -> np.ndarray:
    """Tight (4,) xyxy box of a non-empty H x W mask; x1/y1 are exclusive pixel edges (COCO-style)."""
    ys, xs = np.nonzero(np.asarray(gt_mask, dtype=bool))
    if ys.size == 0:
        raise ValueError("cannot take the box of an empty mask")
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)


def noisy_box(box_xyxy: np.ndarray, image_hw: tuple[int, int], rng: np.random.Generator,
              noise_frac: float = 0.1, max_shift_px: float = 20.0) -> np.ndarray:
    """The training-style noisy box: per-coordinate Gaussian shift with std = noise_frac x side.

    x coordinates use the box width, y the height; each shift is clipped to +-max_shift_px, the
    result is clipped to the image and kept at least 1 px wide and high.
    """
    x0, y0, x1, y1 = np.asarray(box_xyxy, dtype=np.float64)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    std = np.array([w, h, w, h]) * noise_frac
    shift = np.clip(rng.normal(0.0, 1.0, size=4) * std, -max_shift_px, max_shift_px)
    bx0, by0, bx1, by1 = np.array([x0, y0, x1, y1]) + shift
    H, W = image_hw
    bx0, bx1 = np.clip(sorted((bx0, bx1)), 0, W)
    by0, by1 = np.clip(sorted((by0, by1)), 0, H)
    bx1, by1 = max(bx1, min(bx0 + 1, W)), max(by1, min(by0 + 1, H))
    return np.array([bx0, by0, bx1, by1], dtype=np.float32)


def run_box_prompt(predictor: InteractivePredictor, gt_mask: np.ndarray, box_xyxy: np.ndarray) -> tuple[float, np.ndarray]:
    """(IoU, H x W bool mask) for one box prompt with single-mask output, as SAM uses boxes."""
    masks, _, _ = predictor.predict(box=np.asarray(box_xyxy, dtype=np.float32), multimask_output=False)
    pred = np.asarray(masks[0], dtype=bool)
    return mask_iou(pred, gt_mask), pred
