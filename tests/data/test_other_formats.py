import json

import numpy as np
import pytest
from PIL import Image

from samkit.data import CocoPanoptic, DatasetSpec, LabelMapFolder, ObjectMaskFolder, SA1BFolder, build_dataset
from samkit.errors import InputError



def test_label_maps_uint16_and_binary_components(label_map_dir):
    ds = build_dataset(DatasetSpec(str(label_map_dir)))
    assert isinstance(ds, LabelMapFolder) and len(ds) == 2
    assert [i.item_id for i in ds.issues] == ["2"]  # image without a label map, reported by name
    s0 = ds[0]
    assert s0.instance_ids == (1, 2, 300)  # 16-bit label 300 kept
    assert [int(m.sum()) for m in s0.masks] == [64, 160, 50]
    s1 = ds[1]
    assert len(s1.masks) == 2 and sorted(int(m.sum()) for m in s1.masks) == [25, 150]


def test_label_map_pair_of_files(label_map_dir):
    ds = LabelMapFolder(label_map_dir / "images" / "0.png", label_map_dir / "labels" / "0.png")
    assert len(ds) == 1 and len(ds[0].masks) == 3


def test_object_mask_folder_dsb_layout(tmp_path, helpers):
    sample = tmp_path / "abc"
    (sample / "images").mkdir(parents=True)
    (sample / "masks").mkdir()
    helpers.write_rgb(sample / "images" / "abc.png", 20, 30)
    for k, (y, x) in enumerate([(2, 2), (10, 15)]):
        m = np.zeros((20, 30), np.uint8)
        m[y:y + 5, x:x + 5] = 255
        Image.fromarray(m).save(sample / "masks" / f"m{k}.png")
    (tmp_path / "broken").mkdir()  # no images/ or masks/: reported
    ds = ObjectMaskFolder(tmp_path)
    assert len(ds) == 1 and len(ds.issues) == 1 and "broken" in ds.issues[0].file
    s = ds[0]
    assert s.instance_ids == ("m0", "m1") and [int(m.sum()) for m in s.masks] == [25, 25]


def test_object_mask_json_mapping(tmp_path, helpers):
    helpers.write_rgb(tmp_path / "img.png", 10, 10)
    m = np.zeros((10, 10), np.uint8)
    m[:3] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    (tmp_path / "map.json").write_text(json.dumps({"img.png": ["m.png"], "gone.png": ["m.png"]}))
    ds = build_dataset(DatasetSpec(str(tmp_path / "map.json")))
    assert isinstance(ds, ObjectMaskFolder) and len(ds) == 1 and len(ds.issues) == 1
    assert ds[0].masks[0].sum() == 30


def test_panoptic_things_stuff_crowd_and_missing(tmp_path, helpers):
    helpers.write_rgb(tmp_path / "p.jpg", 20, 20)
    ids = np.zeros((20, 20), np.int64)
    ids[:10] = 5 + 256 * 1  # segment 261 (thing)
    ids[10:] = 70000  # segment 70000 (stuff)
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
    (tmp_path / "png").mkdir()
    Image.fromarray(rgb).save(tmp_path / "png" / "p.png")
    data = {"images": [{"id": 1, "file_name": "p.jpg", "height": 20, "width": 20}],
            "categories": [{"id": 1, "isthing": 1}, {"id": 2, "isthing": 0}],
            "annotations": [{"image_id": 1, "file_name": "p.png", "segments_info": [
                {"id": 261, "category_id": 1, "iscrowd": 0}, {"id": 70000, "category_id": 2, "iscrowd": 0},
                {"id": 9, "category_id": 1, "iscrowd": 1}, {"id": 12345, "category_id": 1, "iscrowd": 0}]}]}
    (tmp_path / "pan.json").write_text(json.dumps(data))
    ds = CocoPanoptic(tmp_path / "pan.json", tmp_path / "png", tmp_path)
    s = ds[0]
    assert s.instance_ids == (261, 70000) and [int(m.sum()) for m in s.masks] == [200, 200]
    assert [(i.item_id, "absent" in i.reason) for i in ds.issues] == [(12345, True)]
    things = CocoPanoptic(tmp_path / "pan.json", tmp_path / "png", tmp_path, include_stuff=False)
    assert things[0].instance_ids == (261,)


def test_sa1b_folder(tmp_path, helpers):
    helpers.write_rgb(tmp_path / "sa_1.jpg", 16, 24)
    m = np.zeros((16, 24), bool)
    m[4:8, 4:12] = True
    anns = [{"id": 1, "segmentation": helpers.rle_string(m)}, {"id": 2, "segmentation": {"size": [3, 3], "counts": "x"}}]
    (tmp_path / "sa_1.json").write_text(json.dumps({"image": {"image_id": 1, "file_name": "sa_1.jpg", "height": 16,
                                                              "width": 24}, "annotations": anns}))
    (tmp_path / "sa_2.json").write_text("{not json")
    ds = build_dataset(DatasetSpec(str(tmp_path)))
    assert isinstance(ds, SA1BFolder) and len(ds) == 1
    assert np.array_equal(ds[0].masks[0], m)
    assert (True, 2) in {(i.file.endswith("sa_1.json"), i.item_id) for i in ds.issues}
    assert any(i.file.endswith("sa_2.json") for i in ds.issues)


def test_unknown_layout_is_a_clear_error(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match="cannot tell the dataset format"):
        build_dataset(DatasetSpec(str(tmp_path)))
    with pytest.raises(InputError, match="does not exist"):
        build_dataset(DatasetSpec(str(tmp_path / "nope")))
