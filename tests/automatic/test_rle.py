"""RLE round trips through pycocotools, and the uncompressed layout segment_anything uses."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samkit.automatic.rle import (
    coco_rle_area, decode_coco_rle, encode_coco_rle, mask_to_uncompressed_rle, uncompressed_rle_to_mask,
    uncompressed_to_coco_rle,
)


def masks():
    rng = np.random.default_rng(0)
    yield np.zeros((7, 5), bool)
    yield np.ones((7, 5), bool)
    m = np.zeros((30, 40), bool)
    m[0, 0] = True  # starts with a 1-run: counts must begin with 0
    yield m
    m = np.zeros((30, 40), bool)
    m[-1, -1] = True
    yield m
    yield rng.random((50, 31)) > 0.5
    yield rng.random((1, 9)) > 0.3


@pytest.mark.parametrize("mask", list(masks()))
def test_round_trips(mask):
    coco = encode_coco_rle(mask)
    assert isinstance(coco["counts"], str) and coco["size"] == list(mask.shape)
    assert np.array_equal(decode_coco_rle(coco), mask)
    assert coco_rle_area(coco) == mask.sum()
    unc = mask_to_uncompressed_rle(mask)
    assert sum(unc["counts"]) == mask.size and all(isinstance(c, int) for c in unc["counts"])
    assert sum(unc["counts"][1::2]) == mask.sum()
    assert np.array_equal(uncompressed_rle_to_mask(unc), mask)
    assert uncompressed_to_coco_rle(unc)["counts"] == coco["counts"]


def test_uncompressed_layout_is_column_major():
    m = np.array([[0, 1], [0, 1], [1, 0]], bool)  # column-major: 0 0 1 | 1 1 0
    assert mask_to_uncompressed_rle(m) == {"size": [3, 2], "counts": [2, 3, 1]}
    # pycocotools agrees on the same layout
    ref = mask_utils.frPyObjects({"size": [3, 2], "counts": [2, 3, 1]}, 3, 2)
    assert np.array_equal(mask_utils.decode(ref).astype(bool), m)
