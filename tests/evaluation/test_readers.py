import json

import pytest

from samkit.errors import InputError
from samkit.evaluation.coco_instances import read_coco_images
from samkit.evaluation.dataset_source import resolve_dataset
from samkit.evaluation.metrics import mask_iou


def test_coco_reader_polygons_rle_and_crowds(tiny_coco, helpers):
    src = resolve_dataset(tiny_coco.parent.parent)
    assert src.kind == "coco" and src.annotation_path == tiny_coco and src.images_dir.name == "val"
    images = read_coco_images(src.annotation_path, src.images_dir)
    assert [i.image_id for i in images] == ["1", "2", "3"]
    rect, disc, small = helpers.scene_masks()
    objs = images[0].objects
    assert [o.ignore for o in objs] == [False, False, True]
    assert mask_iou(objs[0].mask(), rect) > 0.95  # polygon rasterised by pycocotools
    assert mask_iou(objs[1].mask(), disc) == 1.0  # RLE is exact
    assert objs[0].area_px == 2400.0


def test_coco_reader_subset_is_seeded_and_objects_limited(tiny_coco):
    img_dir = tiny_coco.parent.parent / "images" / "val"
    a = read_coco_images(tiny_coco, img_dir, max_images=2, seed=1)
    b = read_coco_images(tiny_coco, img_dir, max_images=2, seed=1)
    assert [i.image_id for i in a] == [i.image_id for i in b] and len(a) == 2
    one = read_coco_images(tiny_coco, img_dir, max_objects_per_image=1)
    assert [o.object_id for o in one[0].objects if not o.ignore] == ["1"]  # the largest object
    big_only = read_coco_images(tiny_coco, img_dir, min_area_px=2000)
    assert all(o.area_px >= 2000 for i in big_only for o in i.objects if not o.ignore)


def test_dataset_errors(tmp_path, tiny_coco):
    with pytest.raises(InputError, match="not found"):
        resolve_dataset(tmp_path / "missing")
    with pytest.raises(InputError, match="neither"):
        resolve_dataset(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="COCO"):
        read_coco_images(bad, tmp_path)
    data = json.loads(tiny_coco.read_text())
    data["images"][0]["file_name"] = "gone.png"
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(data))
    with pytest.raises(InputError, match="gone.png"):
        read_coco_images(moved, tiny_coco.parent.parent / "images" / "val")
