"""The simulated loop on the shared COCO photos with the built-in model (skips without ../shared/data)."""

from __future__ import annotations

import json

import pytest

from samkit.cli.main import main


def test_simulate_on_shared_coco(tmp_path, shared_data, one_torch_thread, capsys):
    gt = shared_data / "coco" / "annotations" / "instances_train2017.json"
    images = shared_data / "coco" / "images" / "train2017"
    if not gt.is_file() or not images.is_dir():
        pytest.skip(f"COCO instances or images missing under {shared_data}")
    proj = tmp_path / "coco_sim"
    rc = main(["engine", "simulate", str(proj), "--gt", str(gt), "--images", str(images), "--max-images", "6",
               "--steps", "2", "--threads", "1", "--heldout-fraction", "0.4", "--max-clicks", "3",
               "--points-per-side", "4", "--crop-n-layers", "0", "--quiet"])
    assert rc == 0
    report = json.loads((proj / "simulation.json").read_text())
    assert [r["stage"] for r in report["rounds"]] == [1, 2, 3]
    assert report["heldout_objects"] > 0
    r1 = report["rounds"][0]
    assert r1["masks"] > 0 and 1 <= r1["clicks_per_mask"] <= 3
    assert 0.0 < r1["miou_1click_before"] <= 1.0
