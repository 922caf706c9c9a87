import math

import numpy as np
import pytest

from samkit.evaluation.metrics import fraction_failed, mask_iou, miou_curve, number_of_clicks, size_bucket


def test_mask_iou_known_values():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[:, :5] = True
    b[:, 2:7] = True  # intersection 30, union 70
    assert mask_iou(a, b) == pytest.approx(30 / 70)
    assert mask_iou(a, a) == 1.0
    assert mask_iou(a, ~a) == 0.0
    assert mask_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0


def test_noc_first_click_reaching_threshold_and_cap():
    assert number_of_clicks([0.5, 0.86, 0.91], 0.85) == 2
    assert number_of_clicks([0.5, 0.86, 0.91], 0.90) == 3
    assert number_of_clicks([0.1] * 25, 0.85) == 20
    assert number_of_clicks([0.1] * 19 + [0.1, 0.99], 0.85) == 20  # click 21 is beyond the cap
    assert number_of_clicks([0.2, 0.95], 0.9, max_clicks=1) == 1


def test_miou_curve_carries_last_value_of_stopped_trajectories():
    curve = miou_curve([[1.0], [0.2, 0.4, 0.6]], 4)
    assert curve == pytest.approx([0.6, 0.7, 0.8, 0.8])


def test_fraction_failed():
    assert fraction_failed([[0.95], [0.5, 0.8], [0.3]], 0.9) == pytest.approx(2 / 3)
    assert math.isnan(fraction_failed([], 0.9))


def test_coco_size_buckets_boundaries():
    assert size_bucket(0) == "small"
    assert size_bucket(32**2 - 1) == "small"
    assert size_bucket(32**2) == "medium"
    assert size_bucket(96**2 - 0.5) == "medium"
    assert size_bucket(96**2) == "large"
    with pytest.raises(ValueError):
        size_bucket(-1)
