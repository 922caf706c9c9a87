"""DAVIS folders as a training source: one object per label value, frames grouped by sequence."""

import numpy as np
import pytest
from PIL import Image

from samkit.data import DatasetSpec, DavisFrames, build_dataset
from samkit.data.davis import read_davis_labels
from samkit.errors import InputError


def write_davis(root, sequences=("a", "b"), n_frames=4, palette=False):
    """2016 style (0/255, the object in two separate pieces) or 2017 style (palette values 1 and 2)."""
    for s, seq in enumerate(sequences):
        jd, ad = root / "JPEGImages" / "480p" / seq, root / "Annotations" / "480p" / seq
        jd.mkdir(parents=True)
        ad.mkdir(parents=True)
        for t in range(n_frames):
            Image.fromarray(np.full((24, 32, 3), 10 * t + s, np.uint8)).save(jd / f"{t:05d}.jpg")
            lab = np.zeros((24, 32), np.uint8)
            if t != 1:  # frame 1: the object is out of view
                lab[2:6, 2:6] = 1
                lab[15:20, 20:30] = 2 if palette else 1
            if palette:
                im = Image.fromarray(lab, mode="P")
                im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
            else:
                im = Image.fromarray(lab * 255)
            im.save(ad / f"{t:05d}.png")
    return root


def test_davis2016_frame_is_one_object_even_in_pieces(tmp_path):
    ds = build_dataset(DatasetSpec(str(write_davis(tmp_path))))
    assert isinstance(ds, DavisFrames)
    assert [r["group"] for r in ds.records] == ["a"] * 3 + ["b"] * 3  # the empty frame 1 is skipped
    s = ds[0]
    assert s.masks.shape == (1, 24, 32) and s.instance_ids == (1,) and s.masks[0].sum() == 16 + 50


def test_davis2017_palette_gives_one_object_per_value(tmp_path):
    ds = DavisFrames(write_davis(tmp_path, palette=True))
    s = ds[0]
    assert s.instance_ids == (1, 2) and [int(m.sum()) for m in s.masks] == [16, 50]
    assert read_davis_labels(ds.records[0]["labels"]).max() == 2


def test_frame_stride_is_a_spec_field(tmp_path):
    root = write_davis(tmp_path, n_frames=7)
    ds = build_dataset(DatasetSpec(str(root), frame_stride=3))  # frames 0, 3, 6
    assert [r["key"].rsplit("/", 1)[1] for r in ds.records] == ["00000.jpg", "00003.jpg", "00006.jpg"] * 2
    with pytest.raises(InputError, match="frame_stride"):
        build_dataset(DatasetSpec(str(root), frame_stride=0))


def test_training_config_accepts_frame_stride(tmp_path):
    from samkit.training.config import load_config_file

    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(f'[[data.train]]\npath = "{tmp_path}"\nformat = "davis"\nframe_stride = 5\n')
    assert load_config_file(cfg_path).data.train[0].frame_stride == 5


def test_split_holds_out_whole_sequences(tmp_path):
    ds = DavisFrames(write_davis(tmp_path, sequences=[f"s{i}" for i in range(12)], n_frames=3))
    tr, va = ds.split(0.4, seed=0)
    groups = lambda d: {r["group"] for r in d.records}  # noqa: E731
    assert groups(va) and groups(tr).isdisjoint(groups(va)) and len(va) == 2 * len(groups(va))


@pytest.mark.data
def test_shared_davis2016(shared_data):
    ds = build_dataset(DatasetSpec(str(shared_data / "davis2016"), frame_stride=5))
    assert len({r["group"] for r in ds.records}) == 10 and len(ds[0].masks) == 1
