"""Properties that must hold for every input (hypothesis): RLE encodings round-trip any mask, the
RLE check lets through only what pycocotools decodes safely, and the coordinate transforms of SAM 1
(resize longest side, pad) and SAM 2 (square resize) invert."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as mask_utils

from samkit.automatic.rle import (
    decode_coco_rle, encode_coco_rle, mask_to_uncompressed_rle, uncompressed_rle_to_mask, uncompressed_to_coco_rle,
)
from samkit.coco_rle import compressed_rle_runs, rle_problem
from samkit.inference.sam2_transforms import SAM2Transforms
from samkit.inference.transforms import ResizeLongestSide

MANY = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SIDES = st.integers(1, 24)


@st.composite
def masks(draw) -> np.ndarray:
    """Any H x W bool mask: empty, full, noise, stripes (runs of every length)."""
    h, w = draw(SIDES), draw(SIDES)
    kind = draw(st.sampled_from(["noise", "noise", "empty", "full", "block"]))
    if kind == "empty":
        return np.zeros((h, w), bool)
    if kind == "full":
        return np.ones((h, w), bool)
    if kind == "block":
        m = np.zeros((h, w), bool)
        m[draw(st.integers(0, h - 1)):draw(st.integers(0, h)), draw(st.integers(0, w - 1)):] = True
        return m
    return draw(arrays(bool, (h, w)))


@MANY
@given(mask=masks())
def test_rle_round_trips_any_mask(mask):
    rle = encode_coco_rle(mask)
    assert rle["size"] == list(mask.shape) and isinstance(rle["counts"], str)
    assert np.array_equal(decode_coco_rle(rle), mask)
    unc = mask_to_uncompressed_rle(mask)
    assert np.array_equal(uncompressed_rle_to_mask(unc), mask)
    assert uncompressed_to_coco_rle(unc) == rle  # both forms describe the same runs
    runs = compressed_rle_runs(rle["counts"])  # samkit's own reader of the string agrees with pycocotools
    assert runs == unc["counts"] and sum(runs) == mask.size and sum(runs[1::2]) == int(mask.sum())
    assert rle_problem(rle, mask.shape) is None and rle_problem(unc, mask.shape) is None


@MANY
@given(h=SIDES, w=SIDES, counts=st.text(alphabet=[chr(c) for c in range(40, 120)], max_size=12))
def test_rle_check_passes_only_what_decodes_to_its_size(h, w, counts):
    """A counts string the check accepts decodes to exactly H x W; anything else gets a reason."""
    problem = rle_problem({"size": [h, w], "counts": counts})
    if problem is None:
        mask = mask_utils.decode({"size": [h, w], "counts": counts.encode()})
        assert mask.shape == (h, w)
        assert int(mask_utils.area({"size": [h, w], "counts": counts.encode()})) == int(mask.sum())
    else:
        assert isinstance(problem, str) and problem


@MANY
@given(h=st.integers(1, 30000), w=st.integers(1, 30000), target=st.sampled_from([64, 256, 1024]),
       xy=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_resize_longest_side_coordinates_invert(h, w, target, xy):
    t = ResizeLongestSide(target)
    nh, nw = t.get_preprocess_shape(h, w, target)
    assert nh >= 1 and nw >= 1 and max(nh, nw) == target  # never a 0-pixel side (3 x 20000 -> 1 x 1024)
    point = np.array([[xy[0] * w, xy[1] * h]])
    there = t.apply_coords(point, (h, w))
    assert 0 <= there[0, 0] <= nw + 1e-6 and 0 <= there[0, 1] <= nh + 1e-6
    back = there * np.array([w / nw, h / nh])
    np.testing.assert_allclose(back, point, rtol=1e-9, atol=1e-9)
    box = np.array([[0.0, 0.0, w, h]])
    np.testing.assert_allclose(t.apply_boxes(box, (h, w)), [[0, 0, nw, nh]], atol=1e-9)
    there_t = t.apply_coords_torch(torch.tensor(point, dtype=torch.float64), (h, w))
    np.testing.assert_allclose(there_t.numpy(), there, rtol=1e-5, atol=1e-3)


@MANY
@given(h=st.integers(1, 30000), w=st.integers(1, 30000), resolution=st.sampled_from([64, 1024]),
       xy=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_sam2_square_resize_coordinates_invert(h, w, resolution, xy):
    t = SAM2Transforms(resolution, mask_threshold=0.0)
    point = torch.tensor([[xy[0] * w, xy[1] * h]], dtype=torch.float64)
    there = t.transform_coords(point, normalize=True, orig_hw=(h, w))
    assert (there >= 0).all() and (there <= resolution + 1e-6).all()
    back = there / resolution * torch.tensor([w, h], dtype=torch.float64)
    torch.testing.assert_close(back, point, rtol=1e-9, atol=1e-6)
    corners = t.transform_boxes(torch.tensor([[0.0, 0.0, w, h]], dtype=torch.float64), normalize=True, orig_hw=(h, w))
    torch.testing.assert_close(corners.reshape(-1), torch.tensor([0.0, 0.0, resolution, resolution], dtype=torch.float64))
