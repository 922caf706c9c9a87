"""Constructor checks, typed records, explicit point grids."""

from __future__ import annotations

import numpy as np
import pytest

from samkit import InputError, build_sam
from samkit.automatic import MaskRecord, SamAutomaticMaskGenerator


@pytest.fixture(scope="module")
def model():
    return build_sam("tiny")


def test_bad_arguments_are_named(model):
    with pytest.raises(InputError, match="exactly one of points_per_side or point_grids"):
        SamAutomaticMaskGenerator(model, points_per_side=None)
    with pytest.raises(InputError, match="output_mode"):
        SamAutomaticMaskGenerator(model, output_mode="polygons")
    with pytest.raises(InputError, match="one per layer"):
        SamAutomaticMaskGenerator(model, points_per_side=None, point_grids=[np.full((1, 2), 0.5)], crop_n_layers=1)
    gen = SamAutomaticMaskGenerator(model, points_per_side=2)
    with pytest.raises(InputError, match="H x W x 3"):
        gen.generate(np.zeros((10, 10), np.uint8))


def test_typed_records_and_point_grids(model, synthetic_image):
    grid = np.array([[0.5, 0.5], [0.25, 0.75]])
    gen = SamAutomaticMaskGenerator(model, points_per_side=None, point_grids=[grid], pred_iou_thresh=0,
                                    stability_score_thresh=0, box_nms_thresh=1.0)
    records = gen.generate_records(synthetic_image)
    assert len(records) == 6 and all(isinstance(r, MaskRecord) for r in records)
    assert {r.point_xy for r in records} == {(200.0, 150.0), (100.0, 225.0)}
    ious = [r.predicted_iou for r in records]
    assert ious == sorted(ious, reverse=True)  # NMS order: best first
    r = records[0]
    assert r.mask().shape == (300, 400) and r.mask().sum() == r.area
    d = r.to_dict("coco_rle")
    assert d["crop_box"] == [0, 0, 400, 300] and d["point_coords"] == [list(r.point_xy)]
    assert set(gen.timings) == {"encoder", "decoder", "postprocess"}
