import numpy as np
import pytest

from samkit.evaluation.click_oracle import Click, first_click, next_click


def test_first_click_is_the_deepest_object_pixel():
    gt = np.zeros((50, 60), bool)
    gt[10:21, 30:41] = True  # 11 x 11 square: its centre (35, 15) is farthest from the boundary
    assert first_click(gt) == Click(x=35, y=15, is_positive=True)


def test_first_click_counts_the_image_border_as_boundary():
    gt = np.zeros((40, 40), bool)
    gt[:, :9] = True  # a strip along the left border: the deepest point is its middle column
    c = first_click(gt)
    assert c.x == 4


def test_first_click_on_empty_mask_raises():
    with pytest.raises(ValueError, match="empty"):
        first_click(np.zeros((5, 5), bool))


def test_next_click_goes_into_the_largest_missed_region():
    gt = np.zeros((60, 60), bool)
    gt[5:25, 5:25] = True
    gt[40:46, 40:46] = True
    pred = np.zeros_like(gt)  # both parts missed: the 20x20 one is larger
    c = next_click(gt, pred)
    assert c.is_positive and 5 <= c.x < 25 and 5 <= c.y < 25


def test_next_click_is_negative_for_the_largest_false_positive():
    gt = np.zeros((60, 60), bool)
    gt[10:30, 10:30] = True
    pred = gt.copy()
    pred[40:55, 40:55] = True  # spurious 15 x 15 blob
    pred[10:12, 10:12] = False  # tiny miss
    c = next_click(gt, pred)
    assert c == Click(x=47, y=47, is_positive=False)


def test_next_click_none_when_perfect_and_positive_on_tie():
    gt = np.zeros((20, 20), bool)
    gt[2:6, 2:6] = True
    assert next_click(gt, gt) is None
    pred = gt.copy()
    pred[2:6, 2:6] = False
    pred[12:16, 12:16] = True  # 16 missed pixels vs 16 spurious pixels
    assert next_click(gt, pred).is_positive


def test_next_click_shape_mismatch():
    with pytest.raises(ValueError, match="differ"):
        next_click(np.zeros((4, 4), bool), np.zeros((4, 5), bool))
