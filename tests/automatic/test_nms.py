"""Blockwise-vectorised greedy NMS against a brute-force greedy loop written from the definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samkit.automatic.nms import box_iou, nms


def brute_force_nms(boxes: np.ndarray, scores: np.ndarray, thresh: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        ok = True
        for k in keep:
            x0, y0 = max(boxes[i, 0], boxes[k, 0]), max(boxes[i, 1], boxes[k, 1])
            x1, y1 = min(boxes[i, 2], boxes[k, 2]), min(boxes[i, 3], boxes[k, 3])
            inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            if inter / (area(boxes[i]) + area(boxes[k]) - inter) > thresh:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def random_boxes(rng, n: int, integer: bool) -> np.ndarray:
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(1, 80, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    return np.round(boxes) if integer else boxes


@pytest.mark.parametrize("n", [0, 1, 7, 300, 700])  # 700 spans several 256-box blocks
@pytest.mark.parametrize("thresh", [0.0, 0.3, 0.7, 1.0])
def test_matches_brute_force(n, thresh):
    rng = np.random.default_rng(n + int(thresh * 10))
    boxes = random_boxes(rng, n, integer=True)
    # Few distinct scores, so ties are frequent and must resolve by index.
    scores = rng.integers(0, 5, n).astype(np.float32)
    keep = nms(torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores), thresh)
    assert keep.dtype == torch.int64
    assert keep.tolist() == brute_force_nms(boxes, scores, thresh)


def test_dense_clusters_match_brute_force():
    # Chains of heavily overlapping boxes: suppression decisions depend on earlier decisions.
    rng = np.random.default_rng(3)
    base = np.array([[10.0, 10.0, 60.0, 60.0]])
    shifts = np.cumsum(rng.uniform(0, 6, (600, 1)), axis=0)
    boxes = base + np.concatenate([shifts, np.zeros_like(shifts), shifts, np.zeros_like(shifts)], axis=1)
    scores = rng.random(600).astype(np.float32)
    keep = nms(torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores), 0.5)
    assert keep.tolist() == brute_force_nms(boxes, scores, 0.5)


def test_box_iou_values():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    assert box_iou(a, b).tolist() == [[1.0, 50.0 / 150.0, 0.0]]
