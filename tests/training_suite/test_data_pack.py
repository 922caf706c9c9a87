"""samkit.training.data_pack: the train side of a config, packed small, trains the same masks."""

import numpy as np
import pytest

from samkit.training import config_from_dict
from samkit.training.config import load_config_file
from samkit.training.data_pack import pack_training_data, shrink
from samkit.training.run_setup import build_splits


def test_packed_copy_holds_the_train_side_only_with_its_masks(fast_config, tmp_path, monkeypatch):
    d = fast_config()
    d["data"]["val_fraction"] = 0.5
    cfg = config_from_dict(d)
    train, _, val = build_splits(cfg)
    assert len(train[0]) and len(val[0])  # the toy source splits both ways at 0.5
    path = pack_training_data(cfg, tmp_path / "packed", max_side=32, fmt="png", progress=lambda s: None)

    monkeypatch.chdir(path.parent)  # the packed config's sources are relative to its folder
    packed = load_config_file(path.name)
    assert packed.data.val_fraction == 0.0 and packed.data.train[0].weight == cfg.data.train[0].weight
    (p_train,), _, p_val = build_splits(packed)
    assert p_val == [] and len(p_train) == len(train[0])
    held_out = {r["key"].rsplit("/", 1)[-1].split(".")[0] for r in val[0].records}
    for i in range(len(p_train)):
        got = p_train[i]
        assert not any(got.key.endswith(f"_{name}.png") for name in held_out)
        src = train[0][i]
        assert max(got.image_rgb.shape[:2]) == 32
        _, want = shrink(src.image_rgb, src.masks, 32)
        assert got.masks.shape == want.shape and np.array_equal(got.masks, want)  # PNG + RLE: lossless


def test_shrink_keeps_small_images_and_scales_masks_with_them():
    img = np.zeros((40, 80, 3), np.uint8)
    masks = np.zeros((1, 40, 80), bool)
    masks[0, 10:30, 20:60] = True
    same_img, same_masks = shrink(img, masks, 100)
    assert same_img is img and same_masks is masks
    small_img, small_masks = shrink(img, masks, 40)
    assert small_img.shape == (20, 40, 3) and small_masks.shape == (1, 20, 40)
    assert small_masks.sum() == pytest.approx(masks.sum() / 4, rel=0.1)
