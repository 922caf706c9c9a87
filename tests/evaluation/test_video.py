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


class _FlakyPredictor:
    """Returns nothing on every other frame, else the box it was given filled in."""

    def __init__(self):
        self.n = 0
        self.boxes = []

    def set_image(self, image, image_format="RGB"):
        self.hw = image.shape[:2]

    def predict(self, box=None, multimask_output=False, **_):
        self.n += 1
        self.boxes.append(box)
        m = np.zeros(self.hw, bool)
        if self.n % 2 == 0:
            x0, y0, x1, y1 = np.round(box).astype(int)
            m[y0:y1, x0:x1] = True
        return m[None], np.ones(1), m[None].astype(np.float32)


def test_box_propagation_survives_an_empty_frame():
    from samkit.evaluation.video_propagation import BoxPropagation

    frames = [np.zeros((100, 100, 3), np.uint8)] * 4
    first = square(40, 40)
    p = _FlakyPredictor()
    masks = BoxPropagation(p, margin_frac=0.0)(frames, first)
    assert [m.sum() for m in masks] == [400, 0, 400, 0]
    assert np.allclose(p.boxes[0], p.boxes[1]) and np.allclose(p.boxes[0], [40, 40, 60, 60])
    with pytest.raises(ValueError, match="empty"):
        BoxPropagation(p)(frames, np.zeros((100, 100), bool))
