"""Hole filling and island removal (OpenCV connected components, 8-connectivity)."""

from __future__ import annotations

import numpy as np
import pytest

from samkit.automatic.small_regions import remove_small_regions


def test_fills_small_holes_only():
    m = np.zeros((40, 40), bool)
    m[5:35, 5:35] = True
    m[10:12, 10:12] = False  # 4 px hole
    m[20:30, 20:30] = False  # 100 px hole
    out, changed = remove_small_regions(m, 10, "holes")
    assert changed
    assert out[10:12, 10:12].all() and not out[20:30, 20:30].any()
    assert out.sum() == m.sum() + 4


def test_removes_small_islands_only():
    m = np.zeros((40, 40), bool)
    m[0:20, 0:20] = True
    m[30, 30] = True
    m[35:37, 35:37] = True
    out, changed = remove_small_regions(m, 5, "islands")
    assert changed and out.sum() == 400 and not out[30, 30] and not out[35:37, 35:37].any()


def test_diagonal_pixels_are_connected():
    m = np.zeros((10, 10), bool)
    m[2, 2] = m[3, 3] = m[4, 4] = True  # one 8-connected island of 3 px
    out, changed = remove_small_regions(m, 3, "islands")
    assert not changed and np.array_equal(out, m)


def test_all_small_keeps_largest_and_unchanged_mask_is_reported():
    m = np.zeros((20, 20), bool)
    m[0, 0] = True
    m[10:12, 10:12] = True
    out, changed = remove_small_regions(m, 100, "islands")
    assert changed and out.sum() == 4 and out[10:12, 10:12].all()
    same, changed = remove_small_regions(out, 2, "holes")
    assert not changed and np.array_equal(same, out)
    with pytest.raises(ValueError):
        remove_small_regions(m, 3, "blobs")
