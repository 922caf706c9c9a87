"""The real development data parses cleanly (skipped when ../shared/data is absent)."""

import numpy as np
import pytest

from samkit.data import AugmentConfig, DatasetSpec, build_dataset, prepare_example

pytestmark = pytest.mark.data


def test_coco_subset(shared_data):
    ds = build_dataset(DatasetSpec(str(shared_data / "coco")))
    assert len(ds) >= 290 and not ds.issues and ds.num_crowd_ignored == 25
    s = ds[0]
    ex = prepare_example(s, 256, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), np.random.default_rng(0),
                         AugmentConfig(), 8, 16)
    assert ex["image"].shape == (3, 256, 256) and 0 < len(ex["masks"]) <= 8


def test_microscopy_layouts(shared_data):
    micro = shared_data / "microscopy"
    dsb = build_dataset(DatasetSpec(str(micro / "dsb2018_murphy_nuclei" / "train")))
    assert len(dsb) == 12 and len(dsb[0].masks) > 5
    em = build_dataset(DatasetSpec(str(micro / "isbi2012_em_membrane")))
    assert len(em) == 30 and len(em[0].masks) > 20  # interiors split into cells
