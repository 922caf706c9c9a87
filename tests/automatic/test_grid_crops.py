"""Point grids and crop boxes, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samkit.automatic.crops import CropBox, generate_crop_boxes, is_box_near_crop_edge
from samkit.automatic.grid import build_all_layer_point_grids, build_point_grid


def test_point_grid_cell_centres_x_fastest():
    g = build_point_grid(2)
    assert g.dtype == np.float64
    assert g.tolist() == [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]
    g4 = build_point_grid(4)
    assert g4.shape == (16, 2) and g4.min() == 0.125 and g4.max() == 0.875


def test_layer_grids_downscale():
    grids = build_all_layer_point_grids(32, 2, 2)
    assert [len(g) for g in grids] == [32 * 32, 16 * 16, 8 * 8]
    with pytest.raises(ValueError):
        build_point_grid(0)


def test_crop_boxes_by_hand():
    crops = generate_crop_boxes((300, 400), 1, 512 / 1500)
    assert crops[0] == CropBox((0, 0, 400, 300), 0)
    # layer 1: overlap = int(0.3413 * 300 * 1) = 102; crop_w = ceil((102 + 400) / 2) = 251,
    # crop_h = ceil((102 + 300) / 2) = 201; x0 in {0, 149}, y0 in {0, 99}; x-major order.
    assert [c.box_xyxy for c in crops[1:]] == [(0, 0, 251, 201), (0, 99, 251, 300), (149, 0, 400, 201), (149, 99, 400, 300)]
    assert all(c.layer == 1 for c in crops[1:])
    assert crops[2].hw == (201, 251) and crops[2].offset_xy == (0, 99) and crops[2].box_xywh == [0, 99, 251, 201]
    layer2 = [c for c in generate_crop_boxes((300, 400), 2, 512 / 1500) if c.layer == 2]
    assert len(layer2) == 16
    for c in layer2:  # tiles stay inside the image and cover it
        x0, y0, x1, y1 = c.box_xyxy
        assert 0 <= x0 < x1 <= 400 and 0 <= y0 < y1 <= 300
    cover = np.zeros((300, 400), bool)
    for c in layer2:
        x0, y0, x1, y1 = c.box_xyxy
        cover[y0:y1, x0:x1] = True
    assert cover.all()


def test_near_crop_edge():
    crop, orig = (100, 0, 300, 200), (0, 0, 400, 200)
    boxes = torch.tensor([
        [150, 50, 250, 150],  # inside: keep
        [105, 50, 250, 150],  # near the crop's left edge (not an image edge): drop
        [150, 0, 250, 150],  # touches the top, which is also the image edge: keep
        [150, 50, 290, 150],  # within 20 px of the crop's right edge: drop
    ])
    assert is_box_near_crop_edge(boxes, crop, orig).tolist() == [False, True, False, True]
