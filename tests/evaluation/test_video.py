import numpy as np
import pytest

from samkit.evaluation.davis_folders import davis_as_images, read_davis_sequences
from samkit.evaluation.video_metrics import boundary_f_measure, mask_boundary, sequence_j_and_f
from samkit.evaluation.video_propagation import copy_first_mask, evaluate_video


def square(y0, x0, side=20, hw=(100, 100)):
    m = np.zeros(hw, bool)
    m[y0:y0 + side, x0:x0 + side] = True
    return m


def test_boundary_is_the_one_pixel_rim():
    b = mask_boundary(square(10, 10, side=5))
    assert b.sum() == 16 and not b[12, 12]
    assert mask_boundary(np.ones((4, 4), bool)).sum() == 12  # the frame edge is a boundary


def test_f_measure_known_values():
    a = square(10, 10)
    assert boundary_f_measure(a, a) == 1.0
    assert boundary_f_measure(a, square(60, 60)) == 0.0
    # tolerance ceil(0.008 * hypot(100, 100)) = 2 px: a 2 px shift is within it, a 5 px shift is not
    assert boundary_f_measure(square(10, 12), a) == 1.0
    assert boundary_f_measure(square(10, 15), a) < 0.6
    assert boundary_f_measure(np.zeros((10, 10), bool), np.zeros((10, 10), bool)) == 1.0
    assert boundary_f_measure(np.zeros((10, 10), bool), square(2, 2, 4, (10, 10))) == 0.0


def test_sequence_j_and_f_skips_the_reference_frame():
    gts = [square(10, 10), square(10, 14), square(10, 18)]
    preds = [square(10, 10)] * 3  # copy of frame 0
    r = sequence_j_and_f(preds, gts)
    j1, j2 = 16 * 20 / (24 * 20), 12 * 20 / (28 * 20)
    assert r["frames"] == 2 and r["J"] == pytest.approx((j1 + j2) / 2)
    assert r["J&F"] == pytest.approx((r["J"] + r["F"]) / 2) and r["J_recall"] == 0.5
    assert sequence_j_and_f(gts, gts)["J&F"] == 1.0
    with pytest.raises(ValueError, match="frames"):
        sequence_j_and_f(preds[:2], gts)


def test_davis_reader_and_copy_baseline(tiny_davis):
    seqs = read_davis_sequences(tiny_davis)
    assert [s.name for s in seqs] == ["slide", "still"] and len(seqs[0].frame_paths) == 4
    assert seqs[0].object_ids() == [1]
    images = davis_as_images(read_davis_sequences(tiny_davis, ["slide"], frame_stride=2))
    assert [i.image_id for i in images] == ["slide/00000", "slide/00002"]
    assert images[0].objects[0].mask().sum() == 40 * 40
    r = evaluate_video(copy_first_mask, seqs)
    assert r["per_sequence"]["still"]["J&F"] == 1.0
    assert r["per_sequence"]["slide"]["J"] < 1.0
    assert r["mean"]["J&F"] == pytest.approx((1.0 + r["per_sequence"]["slide"]["J&F"]) / 2)


def test_davis_reader_errors(tmp_path, tiny_davis):
    from samkit.errors import InputError

    with pytest.raises(InputError, match="DAVIS"):
        read_davis_sequences(tmp_path)
    with pytest.raises(InputError, match="nope"):
        read_davis_sequences(tiny_davis, ["nope"])
