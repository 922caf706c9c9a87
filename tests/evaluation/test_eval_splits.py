"""`samkit eval --split`: the held-out side is exactly what training held out; any training format
can be evaluated (here a label-map folder)."""

import json

import numpy as np
import pytest
from PIL import Image

import samkit.cli.main as cli_main
from samkit.cli.main import main
from samkit.data import DatasetSpec, build_dataset
from samkit.data.davis import DavisFrames
from samkit.errors import InputError
from samkit.evaluation.coco_instances import read_coco_images
from samkit.evaluation.dataset_source import resolve_dataset
from samkit.evaluation.davis_folders import sequences_on_side
from samkit.evaluation.record_images import records_as_images


def write_label_maps(root, n=12):
    """images/<i>.png + labels/<i>.png with instances 1 (8x8), 2 (4x4) and, on even images, 3 (2x2)."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        Image.fromarray(np.full((20, 30, 3), 7 * i, np.uint8)).save(root / "images" / f"{i}.png")
        lab = np.zeros((20, 30), np.uint8)
        lab[1:9, 1:9], lab[12:16, 20:24] = 1, 2
        if i % 2 == 0:
            lab[17:19, 2:4] = 3
        Image.fromarray(lab).save(root / "labels" / f"{i}.png")
    return root


def names(items):
    return sorted(i.path.name for i in items)


def test_records_as_images_follow_the_training_split(tmp_path):
    root = write_label_maps(tmp_path / "lm")
    src = resolve_dataset(root)
    assert src.kind == "records" and src.spec.format == "label_maps"
    ds = build_dataset(src.spec)
    tr, va = ds.split(0.3, seed=2)
    val = records_as_images(ds, "val", 0.3, 2)
    assert names(val) == sorted(k.rsplit("/", 1)[1] for k in va.keys()) and val
    assert names(records_as_images(ds, "train", 0.3, 2)) == sorted(k.rsplit("/", 1)[1] for k in tr.keys())
    img = records_as_images(ds)[0]
    assert img.image_id == "0.png" and img.hw == (20, 30)
    assert [o.area_px for o in img.objects] == [64.0, 16.0, 4.0]  # largest first
    assert img.objects[1].mask().sum() == 16 and img.objects[1].mask()[13, 21]  # decoded on demand
    few = records_as_images(ds, max_objects_per_image=1, min_area_px=10)
    assert all(len(i.objects) == 1 and i.objects[0].area_px == 64 for i in few)
    assert len(records_as_images(ds, max_images=3, seed=1)) == 3


def test_coco_split_by_photo_name(tiny_coco):
    img_dir = tiny_coco.parent.parent / "images" / "val"
    every = read_coco_images(tiny_coco, img_dir)
    tr = read_coco_images(tiny_coco, img_dir, split="train", val_fraction=0.5, split_seed=4)
    va = read_coco_images(tiny_coco, img_dir, split="val", val_fraction=0.5, split_seed=4)
    assert sorted(names(tr) + names(va)) == names(every) and not set(names(tr)) & set(names(va))
    assert len(tr) >= 1


def test_davis_split_by_sequence(tmp_path):
    for s in range(10):
        for d in ("JPEGImages", "Annotations"):
            (tmp_path / d / "480p" / f"seq{s}").mkdir(parents=True)
    va = sequences_on_side(tmp_path, "val", 0.3, 0)
    tr = sequences_on_side(tmp_path, "train", 0.3, 0)
    assert sorted(va + tr) == [f"seq{s}" for s in range(10)] and va and not set(va) & set(tr)
    assert sequences_on_side(tmp_path, "all", 0.3, 0, ["seq1"]) == ["seq1"]
    with pytest.raises(InputError, match="not found"):
        sequences_on_side(tmp_path, "val", 0.3, 0, ["nope"])
    with pytest.raises(InputError, match="no sequence"):
        sequences_on_side(tmp_path, "val", 0.3, 0, tr[:1])


def test_cli_eval_val_split_on_a_label_map_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", ("eval",))
    root = write_label_maps(tmp_path / "lm")
    out = tmp_path / "out"
    argv = ["eval", "--model", "grabcut", "--data", str(root), "--protocol", "box", "--split", "val",
            "--val-fraction", "0.3", "--split-seed", "2", "--max-objects", "1", "--out", str(out)]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    expected = len(build_dataset(DatasetSpec(str(root))).split(0.3, 2)[1])
    assert res["num_items"] == expected and res["settings"]["split"] == "val"
    assert "val split 0.3/seed 2" in (out / "results.md").read_text()


def test_cli_rejects_bad_split_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", ("eval",))
    root = write_label_maps(tmp_path / "lm", n=2)
    base = ["eval", "--model", "grabcut", "--data", str(root), "--protocol", "box", "--out", str(tmp_path / "o")]
    assert main([*base, "--split", "val", "--val-fraction", "1.5"]) == 2
    assert "--val-fraction" in capsys.readouterr().err


@pytest.mark.data
def test_shared_sources_resolve_and_split(shared_data):
    pan = resolve_dataset(shared_data / "coco" / "panoptic" / "panoptic_train2017.json")
    assert pan.kind == "records" and pan.spec.format == "coco_panoptic"
    em = build_dataset(resolve_dataset(shared_data / "microscopy" / "isbi2012_em_membrane").spec)
    val = records_as_images(em, "val", 0.15, 0, max_objects_per_image=2)
    assert names(val) == sorted(k.rsplit("/", 1)[1] for k in em.split(0.15, 0)[1].keys())
    davis = DavisFrames(shared_data / "davis2016", frame_stride=20)
    held = {r["group"] for r in davis.split(0.15, 0)[1].records}
    assert set(sequences_on_side(shared_data / "davis2016", "val", 0.15, 0)) == held
