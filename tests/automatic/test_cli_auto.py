"""`samkit auto` on a folder: outputs, resume, bad files, conflicting settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from samkit.automatic.rle import decode_coco_rle
from samkit.cli.main import main

FAST = ["--model", "tiny", "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]


@pytest.fixture()
def folder(tmp_path, synthetic_image):
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(synthetic_image).save(d / "a.png")
    Image.fromarray(synthetic_image[:120, :90]).save(d / "b.jpg")
    (d / "broken.jpg").write_bytes(b"not a jpeg at all")
    (d / "notes.txt").write_text("ignored")
    return d


def test_folder_resume_and_bad_file(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["auto", str(folder), "--out", str(out), "--format", "png", *FAST])
    err = capsys.readouterr().err
    assert rc == 1  # one image could not be read, the others were done
    assert "broken.jpg" in err and "Traceback" not in err
    doc = json.loads((out / "a.png.json").read_text())
    assert doc["image"]["file_name"] == "a.png" and (doc["image"]["height"], doc["image"]["width"]) == (300, 400)
    assert len(doc["annotations"]) >= 1
    ann = doc["annotations"][0]
    assert set(ann) >= {"id", "segmentation", "bbox", "area", "predicted_iou", "stability_score", "point_coords", "crop_box"}
    mask = decode_coco_rle(ann["segmentation"])
    assert mask.shape == (300, 400) and mask.sum() == ann["area"]
    assert (out / "a.png.overlay.jpg").is_file() and (out / "b.jpg.overlay.jpg").is_file()
    labels = np.asarray(Image.open(out / "a.png.masks.png"))
    assert labels.shape == (300, 400) and labels.max() >= 1
    coco = json.loads((out / "coco_results.json").read_text())
    assert {r["image_id"] for r in coco} == {1, 2} and all(r["category_id"] == 1 for r in coco)
    assert not (out / "broken.jpg.json").exists()

    # Resume: finished images are skipped (their files untouched), the broken one is retried.
    stamp = (out / "a.png.json").stat().st_mtime_ns
    rc = main(["auto", str(folder), "--out", str(out), "--format", "png", *FAST])
    err = capsys.readouterr().err
    assert rc == 1 and "2 already there" in err
    assert (out / "a.png.json").stat().st_mtime_ns == stamp

    # Other settings into the same folder: refused with one clear line, nothing overwritten.
    rc = main(["auto", str(folder), "--out", str(out), *FAST[:-2], "--stability-score-thresh", "0.5"])
    err = capsys.readouterr().err
    assert rc == 2 and "other settings" in err and err.count("\n") == 1
    assert (out / "a.png.json").stat().st_mtime_ns == stamp


def test_single_image_and_errors(tmp_path, synthetic_image, capsys):
    img = tmp_path / "one.png"
    Image.fromarray(synthetic_image).save(img)
    out = tmp_path / "o"
    assert main(["auto", str(img), "--out", str(out), "--format", "coco", "--no-overlay", *FAST]) == 0
    assert (out / "one.png.json").is_file() and (out / "coco_results.json").is_file()
    assert not (out / "one.png.overlay.jpg").exists()
    capsys.readouterr()
    assert main(["auto", str(tmp_path / "missing"), "--out", str(out), *FAST]) == 2
    assert "no such file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["auto", str(empty), "--out", str(out), *FAST]) == 2
    assert "no images found" in capsys.readouterr().err
