import numpy as np
import torch

from samkit.data import AugmentConfig, InstanceSample, prepare_example

MEAN, STD = (100.0, 100.0, 100.0), (50.0, 50.0, 50.0)


def _sample(h=60, w=80):
    """Grey image with a white square exactly where mask 0 is and a black bar where mask 1 is."""
    img = np.full((h, w, 3), 100, np.uint8)
    m0 = np.zeros((h, w), bool)
    m0[10:30, 50:70] = True
    m1 = np.zeros((h, w), bool)
    m1[40:50, 5:60] = True
    img[m0] = 250
    img[m1] = 0
    return InstanceSample(img, np.stack([m0, m1]), "synthetic", ("sq", "bar"))


def test_resize_longest_side_and_pad_without_augmentation():
    ex = prepare_example(_sample(), 64, MEAN, STD, np.random.default_rng(0), None, 8, 1)
    assert ex["input_hw"] == (48, 64) and ex["image"].shape == (3, 64, 64)
    assert torch.all(ex["image"][:, 48:] == 0)  # zero padding after normalisation, like Sam.preprocess
    sq = ex["masks"][list(ex["instance_ids"]).index("sq")]
    # 80 -> 64: scale 0.8, so the square [10:30, 50:70] lands on [8:24, 40:56]
    ys, xs = torch.nonzero(sq, as_tuple=True)
    assert (int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())) == (8, 23, 40, 55)
    assert not ex["masks"][:, 48:].any()


def test_augmentation_moves_image_and_masks_together():
    aug = AugmentConfig(hflip_prob=0.5, vflip_prob=0.5, scale_min=0.6, scale_max=1.6)
    for seed in range(12):
        ex = prepare_example(_sample(), 64, MEAN, STD, np.random.default_rng(seed), aug, 8, 4)
        img = ex["image"][0]
        for m, name in zip(ex["masks"], ex["instance_ids"]):
            inside = img[m]
            target = (250 - 100) / 50 if name == "sq" else (0 - 100) / 50
            # Interior pixels carry the object's colour; only antialiased rims may differ.
            assert (inside - target).abs().lt(0.3).float().mean() > 0.7, (seed, name)
        h, w = ex["input_hw"]
        assert h <= 64 and w <= 64 and not ex["masks"][:, h:].any() and not ex["masks"][:, :, w:].any()


def test_flip_is_applied():
    aug = AugmentConfig(hflip_prob=1.0, vflip_prob=0.0, scale_min=1.0, scale_max=1.0)
    ex = prepare_example(_sample(), 64, MEAN, STD, np.random.default_rng(0), aug, 8, 1)
    sq = ex["masks"][list(ex["instance_ids"]).index("sq")]
    xs = torch.nonzero(sq, as_tuple=True)[1]
    assert (int(xs.min()), int(xs.max())) == (64 - 56, 64 - 41)


def test_max_masks_and_min_area():
    s = _sample()
    ex = prepare_example(s, 64, MEAN, STD, np.random.default_rng(0), None, 1, 1)
    assert len(ex["masks"]) == 1
    ex = prepare_example(s, 64, MEAN, STD, np.random.default_rng(0), None, 8, 300)  # square: 256 px < 300
    assert ex["instance_ids"] == ("bar",)
    counts = {"sq": 0, "bar": 0}
    for seed in range(40):  # the subset is uniformly random
        counts[prepare_example(s, 64, MEAN, STD, np.random.default_rng(seed), None, 1, 1)["instance_ids"][0]] += 1
    assert 10 < counts["sq"] < 30
