"""Semantic class maps -> instance regions -> a COCO dataset that `samkit train` detects and reads back."""

import json

import numpy as np
import pytest

from samkit.data import CocoInstances, DatasetSpec, build_dataset
from samkit.data.semantic_instances import CocoInstancesWriter, class_regions
from samkit.errors import InputError

NAMES = ("background", "shirt", "hair", "void")


def _class_map() -> np.ndarray:
    """20 x 30: two shirt pieces (24 and 4 px), one hair piece (16 px), one void pixel block (9 px)."""
    labels = np.zeros((20, 30), np.int64)
    labels[2:6, 2:8] = 1      # shirt, 24 px
    labels[15:17, 20:22] = 1  # shirt, 4 px: under the floor
    labels[10:14, 10:14] = 2  # hair, 16 px
    labels[0:3, 25:28] = 3    # void, 9 px: skipped
    return labels


def test_regions_by_class_with_floor_skip_and_whole():
    labels = _class_map()
    regions = class_regions(labels, NAMES, min_area_px=5, skip_values=(0, 3), whole_name="person")
    assert [(name, int(m.sum())) for name, m in regions] == [("person", 44), ("shirt", 24), ("hair", 16)]
    whole = regions[0][1]
    assert whole.sum() == (np.isin(labels, (1, 2))).sum()  # the whole includes pieces under the floor
    assert not whole[0:3, 25:28].any()  # but never a skipped class
    assert (regions[1][1] == (labels == 1)).sum() == labels.size - 4  # the shirt region is the big piece only


def test_two_touching_regions_of_one_class_merge_and_diagonals_split():
    labels = np.zeros((10, 10), np.int64)
    labels[0:3, 0:3] = 1
    labels[0:3, 3:6] = 1   # touches the first: one region (semantic labels cannot tell them apart)
    labels[3:6, 6:9] = 1   # only corner contact: 4-connectivity keeps it separate
    sizes = sorted(int(m.sum()) for _, m in class_regions(labels, ("bg", "car"), min_area_px=1))
    assert sizes == [9, 18]


def test_class_map_must_be_integer_2d():
    with pytest.raises(InputError, match="2-D integer"):
        class_regions(np.zeros((4, 4), np.float32), NAMES, 1)
    with pytest.raises(InputError, match="2-D integer"):
        class_regions(np.zeros((4, 4, 3), np.int64), NAMES, 1)


def test_writer_round_trip_through_build_dataset(tmp_path, helpers):
    photo = tmp_path / "src" / "0001.png"
    photo.parent.mkdir()
    helpers.write_rgb(photo, 20, 30)
    labels = _class_map()
    regions = class_regions(labels, NAMES, min_area_px=5, skip_values=(0, 3), whole_name="person")
    root = tmp_path / "out"
    writer = CocoInstancesWriter(root, ["person", *NAMES[1:]])
    assert writer.add(photo, "ccp_0001.png", regions)
    assert not writer.add(photo, "empty.png", [("hair", np.zeros((20, 30), bool))])  # nothing to learn from
    path = writer.write()
    doc = json.loads(path.read_text())
    assert [im["file_name"] for im in doc["images"]] == ["ccp_0001.png"]
    assert doc["annotations"][1]["bbox"] == [2, 2, 6, 4] and doc["annotations"][1]["area"] == 24
    assert (root / "images" / "train" / "ccp_0001.png").resolve() == photo.resolve()  # linked, not copied

    ds = build_dataset(DatasetSpec(str(root)))
    assert isinstance(ds, CocoInstances) and len(ds) == 1
    sample = ds[0]
    assert sample.image_rgb.shape == (20, 30, 3)
    np.testing.assert_array_equal(sample.masks, np.stack([m for _, m in regions]))  # overlaps kept (RLE)


def test_writer_rejects_unknown_category_and_mismatched_shapes(tmp_path, helpers):
    photo = tmp_path / "p.png"
    helpers.write_rgb(photo, 4, 4)
    writer = CocoInstancesWriter(tmp_path / "out", ["car"])
    with pytest.raises(InputError, match="unknown categories"):
        writer.add(photo, "p.png", [("bus", np.ones((4, 4), bool))])
    with pytest.raises(InputError, match="region 'car'"):
        writer.add(photo, "p.png", [("car", np.ones((4, 4), bool)), ("car", np.ones((5, 4), bool))])
