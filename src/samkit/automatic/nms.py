"""Greedy box non-maximum suppression in plain torch (no torchvision), vectorised by blocks.

Greedy NMS visits boxes by descending score and keeps a box unless a box kept before it overlaps it
with IoU > threshold. The answer is unique, so we can compute it blockwise: a block of B boxes is
first checked against every box kept in earlier blocks with one matrix operation, then resolved
internally by a fixed-point iteration on the block's B x B suppression matrix (it settles in at
most B steps, usually 2-3). No Python loop runs per box.
"""

from __future__ import annotations

import torch

_BLOCK = 256


def box_area(boxes_xyxy: torch.Tensor) -> torch.Tensor:
    """(N,) area of XYXY boxes (x1 - x0) * (y1 - y0), in the boxes' dtype."""
    return (boxes_xyxy[:, 2] - boxes_xyxy[:, 0]) * (boxes_xyxy[:, 3] - boxes_xyxy[:, 1])


def box_iou(a_xyxy: torch.Tensor, b_xyxy: torch.Tensor) -> torch.Tensor:
    """(N, M) IoU between two sets of XYXY boxes, computed in float64 so threshold tests are exact."""
    a, b = a_xyxy.double(), b_xyxy.double()
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / union


def nms(boxes_xyxy: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices (int64) of the boxes greedy NMS keeps, by descending score (ties: lower index first).

    boxes_xyxy: (N, 4) in any frame; scores: (N,). Two boxes suppress each other when IoU > threshold.
    """
    n = boxes_xyxy.shape[0]
    if n == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes_xyxy.device)
    order = torch.argsort(scores, descending=True, stable=True)
    boxes = boxes_xyxy[order].double()
    kept_boxes = boxes[:0]
    kept_pos: list[torch.Tensor] = []
    for start in range(0, n, _BLOCK):
        block = boxes[start : start + _BLOCK]
        alive = torch.ones(block.shape[0], dtype=torch.bool, device=block.device)
        if kept_boxes.shape[0]:
            alive &= ~(box_iou(kept_boxes, block) > iou_threshold).any(dim=0)
        # Within the block: box j survives iff no surviving earlier box i < j suppresses it.
        sup = torch.triu(box_iou(block, block) > iou_threshold, diagonal=1) & alive[:, None]
        keep = alive.clone()
        for _ in range(block.shape[0]):
            new_keep = alive & ~(sup & keep[:, None]).any(dim=0)
            if torch.equal(new_keep, keep):
                break
            keep = new_keep
        idx = torch.nonzero(keep).flatten()
        kept_boxes = torch.cat([kept_boxes, block[idx]])
        kept_pos.append(idx + start)
    return order[torch.cat(kept_pos)]
