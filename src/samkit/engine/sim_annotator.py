"""The simulated human of the data engine: plays an annotator from ground-truth instance masks.

- Assisted-manual (stage 1, and the missed objects of stage 2): clicks an object with the
  evaluation's click oracle (samkit.evaluation.click_oracle: first click at the object's deepest
  pixel, then the largest error region, previous logits fed back, 3 masks on the first click and
  the best-scored one taken, as a user without the GT would) until the mask reaches `iou_target`
  or `max_clicks` is spent; the mask is kept when it reached at least `accept_floor`.
- Semi-automatic (stage 2): a proposal is accepted when it matches a GT object with IoU >=
  `proposal_iou` (one proposal per object, the best), rejected otherwise.
- Review (stage 3): a sampled automatic mask passes when it overlaps some GT object with IoU >=
  `review_iou`.
Time is a fixed cost per click and per mask (plus one per proposal checked), so "seconds per mask"
moves with clicks per mask, as the paper's annotation time did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samkit.evaluation.click_oracle import first_click, next_click
from samkit.evaluation.metrics import mask_iou


@dataclass(frozen=True)
class SimCosts:
    seconds_per_click: float = 2.0
    seconds_per_mask: float = 5.0
    seconds_per_proposal: float = 1.0  # looking at one pre-filled mask (accept or reject)
    max_clicks: int = 10
    iou_target: float = 0.9
    accept_floor: float = 0.5  # below this after max_clicks the object is skipped
    proposal_iou: float = 0.8
    review_iou: float = 0.5
    min_object_area_px: int = 256  # smaller GT objects are not clicked (too small to see in the tool)


@dataclass
class ClickResult:
    mask: np.ndarray | None  # H x W bool, None when skipped
    iou: float
    clicks: int
    seconds: float


def click_object(predictor, gt: np.ndarray, costs: SimCosts) -> ClickResult:
    """Click one GT object (H x W bool) on the image set on `predictor` until good enough."""
    gt = np.asarray(gt, dtype=bool)
    click = first_click(gt)
    clicks: list = []
    prev_logits = None
    best_mask, best_iou = None, 0.0
    for k in range(1, costs.max_clicks + 1):
        clicks.append(click)
        coords = np.array([[c.x, c.y] for c in clicks], dtype=np.float32)
        labels = np.array([1 if c.is_positive else 0 for c in clicks], dtype=np.int64)
        masks, scores, low_res = predictor.predict(
            point_coords=coords, point_labels=labels,
            mask_input=None if prev_logits is None else prev_logits[None], multimask_output=k == 1)
        idx = int(np.argmax(np.asarray(scores, dtype=np.float64)))
        pred = np.asarray(masks[idx], dtype=bool)
        prev_logits = np.asarray(low_res[idx], dtype=np.float32)
        iou = mask_iou(pred, gt)
        best_mask, best_iou = pred, iou  # the user keeps the current mask, not an earlier one
        if iou >= costs.iou_target:
            break
        click = next_click(gt, pred)
        if click is None:
            break
    n = len(clicks)
    seconds = n * costs.seconds_per_click + costs.seconds_per_mask
    if best_iou < costs.accept_floor:
        return ClickResult(None, best_iou, n, seconds)
    return ClickResult(best_mask, best_iou, n, seconds)


def match_proposals(proposals: list[np.ndarray], gts: list[np.ndarray], min_iou: float) -> tuple[dict, set]:
    """Greedy one-to-one matching by IoU: ({proposal index: gt index}, matched gt indices)."""
    pairs = []
    for i, p in enumerate(proposals):
        for j, g in enumerate(gts):
            iou = _fast_iou(p, g)
            if iou >= min_iou:
                pairs.append((iou, i, j))
    chosen, used_p, used_g = {}, set(), set()
    for iou, i, j in sorted(pairs, reverse=True):
        if i not in used_p and j not in used_g:
            chosen[i] = j
            used_p.add(i)
            used_g.add(j)
    return chosen, used_g


def best_gt_iou(mask: np.ndarray, gts: list[np.ndarray]) -> float:
    return max((_fast_iou(mask, g) for g in gts), default=0.0)


def _fast_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.count_nonzero(a & b)
    if inter == 0:
        return 0.0
    return inter / np.count_nonzero(a | b)
