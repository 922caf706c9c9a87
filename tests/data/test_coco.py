import numpy as np

from samkit.data import CocoInstances, DatasetSpec, build_dataset


def test_coco_polygons_rle_crowd_and_malformed(coco_dir):
    ds = CocoInstances(coco_dir / "annotations" / "instances_mini.json", coco_dir / "images")
    assert len(ds) == 2
    a = ds[0]
    assert a.image_rgb.shape == (40, 60, 3)
    assert a.instance_ids == (11, 12)  # crowd 13 ignored, malformed 14/15/17 skipped
    square, blob = a.masks
    # pycocotools rasterises the polygon (10,10)-(20,20) to about 10x10 pixels around that square
    ys, xs = np.nonzero(square)
    assert 9 <= ys.min() <= 11 and 19 <= ys.max() <= 20 and 9 <= xs.min() <= 11
    expected = np.zeros((40, 60), bool)
    expected[5:15, 30:50] = True
    assert np.array_equal(blob, expected)  # uncompressed RLE decodes exactly
    b = ds[1]
    assert b.instance_ids == (21,) and b.masks[0].sum() == 200
    assert ds.num_crowd_ignored == 1
    reported = {(i.item_id, i.file.endswith("instances_mini.json")) for i in ds.issues}
    assert reported == {(14, True), (15, True), (16, True), (17, True)}
    reasons = {i.item_id: i.reason for i in ds.issues}
    assert "even number" in reasons[14] and "differs from the image" in reasons[15]
    assert "unknown image_id" in reasons[16] and "no segmentation" in reasons[17]


def test_coco_root_is_detected(coco_dir):
    ds = build_dataset(DatasetSpec(str(coco_dir), images=str(coco_dir / "images")))
    assert isinstance(ds, CocoInstances) and len(ds) == 2


def test_split_is_deterministic_and_disjoint(coco_dir):
    ds = CocoInstances(coco_dir / "annotations" / "instances_mini.json", coco_dir / "images")
    tr, va = ds.split(0.5, seed=3)
    tr2, va2 = ds.split(0.5, seed=3)
    assert tr.keys() == tr2.keys() and va.keys() == va2.keys()
    assert set(tr.keys()).isdisjoint(va.keys()) and len(tr) + len(va) == 2 and len(tr) >= 1
