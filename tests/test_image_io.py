"""Reading every kind of image a user may have, and refusing broken ones clearly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samkit import InputError, load_image


def test_rgb_gray_rgba_palette(tmp_path):
    rgb = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.array_equal(load_image(tmp_path / "a.png"), rgb)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    g = load_image(tmp_path / "g.png")
    assert g.shape == (20, 30, 3) and np.array_equal(g[..., 2], rgb[..., 0])
    rgba = np.dstack([rgb, np.full((20, 30), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "r.png")
    assert np.array_equal(load_image(tmp_path / "r.png"), rgb)
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (20, 30, 3)


def test_sixteen_bit_is_stretched(tmp_path):
    arr = np.zeros((10, 12), np.uint16)
    arr[:, 6:] = 4000  # a 12-bit camera: would look black if simply cut to 8 bits
    Image.fromarray(arr).save(tmp_path / "x.png")
    Image.fromarray(arr).save(tmp_path / "x.tif")
    for name in ("x.png", "x.tif"):
        img = load_image(tmp_path / name)
        assert img.dtype == np.uint8 and img[0, 0, 0] == 0 and img[0, 11, 0] == 255


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :5] = 255  # white band on the left
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    out = load_image(tmp_path / "rot.jpg")
    assert out.shape == (20, 10, 3)
    assert out[:5].mean() > 200 and out[-5:].mean() < 50  # the band is now at the top


def test_broken_files_give_input_errors(tmp_path):
    rgb = np.zeros((50, 50, 3), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.png").write_text("hello")
    for name, pattern in [("cut.jpg", "cut.jpg"), ("text.png", "text.png"), ("missing.png", "not found")]:
        with pytest.raises(InputError, match=pattern):
            load_image(tmp_path / name)
    with pytest.raises(InputError, match="directory"):
        load_image(tmp_path)
    with pytest.raises(InputError, match="exceeds"):
        load_image(tmp_path / "ok.jpg", max_pixels=100)
