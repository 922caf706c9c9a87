"""Prompt simulation, rule by rule, on hand-made masks."""

import math

import pytest
import torch

from samkit.training.prompts import (
    FIRST, MASK_ONLY, POINT, PromptSimConfig, downsample_masks, error_points, first_points, mask_boxes_xyxy,
    noisy_boxes, round_schedule,
)


def square(n=1, size=64, y0=10, y1=20, x0=30, x1=50):
    m = torch.zeros(n, size, size, dtype=torch.bool)
    m[:, y0:y1, x0:x1] = True
    return m


def test_schedule_has_11_rounds_with_two_mask_only_rounds():
    cfg = PromptSimConfig()
    positions = set()
    for seed in range(200):
        s = round_schedule(cfg, torch.Generator().manual_seed(seed))
        assert len(s) == 11 == cfg.num_rounds
        assert s[0] == FIRST and s[-1] == MASK_ONLY
        assert s.count(POINT) == 8 and s.count(MASK_ONLY) == 2
        positions.add(s.index(MASK_ONLY))
    # the other mask-only round lands anywhere after the first prompt, including right before the end
    assert positions == set(range(1, 10))


def test_first_point_is_uniform_inside_the_mask():
    m = torch.zeros(1, 8, 8, dtype=torch.bool)
    cells = [(1, 1), (1, 6), (6, 2), (5, 5)]
    for y, x in cells:
        m[0, y, x] = True
    g = torch.Generator().manual_seed(0)
    counts = {c: 0 for c in cells}
    for _ in range(4000):
        pts, labels = first_points(m, g)
        x, y = pts[0, 0].tolist()
        counts[(int(y), int(x))] += 1
        assert labels.tolist() == [[1]]
    assert all(abs(c - 1000) < 150 for c in counts.values()), counts


def test_box_without_noise_is_the_tight_box():
    m = square(size=64)
    assert mask_boxes_xyxy(m).tolist() == [[30.0, 10.0, 49.0, 19.0]]
    cfg = PromptSimConfig(box_noise_std_frac=0.0)
    assert noisy_boxes(m, torch.tensor([[64, 64]]), cfg, 64).tolist() == [[30.0, 10.0, 49.0, 19.0]]


def test_box_noise_std_is_10_percent_of_the_side():
    # 1024 input, box 40 x 100: std 4 px on x, 10 px on y, almost never clipped at 20 px.
    m = square(n=4000, size=1024, y0=400, y1=501, x0=300, x1=341)
    box = noisy_boxes(m, torch.full((4000, 2), 1024), PromptSimConfig(), 1024, torch.Generator().manual_seed(0))
    noise = box - torch.tensor([300.0, 400.0, 340.0, 500.0])
    assert noise[:, 0].std().item() == pytest.approx(4.0, rel=0.06)
    assert noise[:, 1].std().item() == pytest.approx(10.0, rel=0.06)


def test_box_noise_is_clipped_at_20px_scaled_to_the_input_size():
    m = square(n=2000, size=1024, y0=100, y1=901, x0=100, x1=901)  # std 80 px >> 20
    box = noisy_boxes(m, torch.full((2000, 2), 1024), PromptSimConfig(), 1024, torch.Generator().manual_seed(1))
    noise = box - torch.tensor([100.0, 100.0, 900.0, 900.0])
    assert noise.abs().max().item() == pytest.approx(20.0)
    small = square(n=2000, size=256, y0=20, y1=231, x0=20, x1=231)
    box = noisy_boxes(small, torch.full((2000, 2), 256), PromptSimConfig(), 256, torch.Generator().manual_seed(2))
    assert (box - torch.tensor([20.0, 20.0, 230.0, 230.0])).abs().max().item() == pytest.approx(5.0)


def test_noisy_box_stays_inside_the_valid_image():
    m = square(n=500, size=64, y0=0, y1=30, x0=0, x1=40)
    box = noisy_boxes(m, torch.full((500, 2), 30), PromptSimConfig(box_noise_max_px=4000), 64,
                      torch.Generator().manual_seed(0))
    assert box.min() >= 0 and box[:, [0, 2]].max() <= 29 and box[:, [1, 3]].max() <= 29
    assert (box[:, 0] <= box[:, 2]).all() and (box[:, 1] <= box[:, 3]).all()


def test_false_negative_gives_a_foreground_point_inside_the_missed_area():
    gt = square(size=16, y0=2, y1=6, x0=3, x1=9)
    pred = torch.zeros_like(gt)
    valid = torch.ones_like(gt)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        pts, labels = error_points(pred, gt, valid, img_size=64, generator=g)  # grid cell = 4 input px
        assert labels.item() == 1
        x, y = pts[0, 0].tolist()
        # continuous position (coordinate + 0.5) lies inside the GT cells' input-pixel span
        assert 3 * 4 <= x + 0.5 < 9 * 4 and 2 * 4 <= y + 0.5 < 6 * 4


def test_false_positive_gives_a_background_point_and_padding_is_ignored():
    gt = square(size=16, y0=2, y1=6, x0=3, x1=9)
    pred = gt.clone()
    pred[0, 10:12, 10:12] = True  # false positive inside the image
    pred[0, 14:, :] = True  # false positive in the padding (rows 14-15 are not valid)
    valid = torch.ones_like(gt)
    valid[0, 14:] = False
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        pts, labels = error_points(pred, gt, valid, img_size=16, generator=g)
        x, y = pts[0, 0].tolist()
        assert labels.item() == 0 and 10 <= x + 0.5 < 12 and 10 <= y + 0.5 < 12


def test_no_error_gives_a_padding_point():
    gt = square(size=16, y0=2, y1=6, x0=3, x1=9)
    pts, labels = error_points(gt.clone(), gt, torch.ones_like(gt), img_size=16)
    assert labels.item() == -1 and pts.abs().sum() == 0


def test_error_points_are_uniform_over_the_whole_error_region():
    gt = torch.zeros(1, 4, 4, dtype=torch.bool)
    gt[0, 0, :3] = True  # 3 false-negative cells
    pred = torch.zeros_like(gt)
    pred[0, 3, 3] = True  # 1 false-positive cell
    g = torch.Generator().manual_seed(0)
    labels = [error_points(pred, gt, torch.ones_like(gt), 4, g)[1].item() for _ in range(4000)]
    assert sum(labels) / 4000 == pytest.approx(0.75, abs=0.03)


def test_downsample_is_area_majority():
    m = torch.zeros(1, 8, 8, dtype=torch.bool)
    m[0, :4, :2] = True  # half of cell (0, 0) of a 2x2 grid
    m[0, 4:, 4:] = True  # all of cell (1, 1)
    assert downsample_masks(m, (2, 2))[0].tolist() == [[True, False], [False, True]]
    assert not math.isnan(float(downsample_masks(m, (2, 2)).float().mean()))
