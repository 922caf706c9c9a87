"""The simulated data-engine loop end to end, CI-sized: synthetic shapes with GT, a tiny random model."""

from __future__ import annotations

import json

from samkit.cli.main import main
from samkit.engine.export import is_heldout
from samkit.engine.project import open_project


def test_simulate_runs_stage_1_2_3_with_retraining(tmp_path, engine_data, tiny_ckpt, one_torch_thread, capsys):
    proj = tmp_path / "sim"
    rc = main(["engine", "simulate", str(proj), "--gt", str(engine_data / "gt.json"), "--images",
               str(engine_data / "images"), "--model", str(tiny_ckpt), "--steps", "2", "--threads", "1",
               "--heldout-fraction", "0.3", "--accept-floor", "0", "--min-object-area", "64",
               "--points-per-side", "4", "--crop-n-layers", "0", "--pred-iou-thresh", "0",
               "--stability-score-thresh", "0", "--review-fraction", "1", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| round | stage |" in out and (proj / "simulation.png").stat().st_size > 1000
    report = json.loads((proj / "simulation.json").read_text())
    rounds = report["rounds"]
    assert [r["stage"] for r in rounds] == [1, 2, 3] and sum(r["images"] for r in rounds) == 8
    r1, r2, r3 = rounds
    assert r1["masks"] > 0 and r1["clicks_per_mask"] >= 1 and r1["seconds_per_mask"] >= 2 * 1 + 5
    assert r1["miou_1click_before"] is not None and r1["miou_5click_after"] is not None
    assert r2["proposals_accepted"] + r2["proposals_rejected"] > 0  # the pre-fill proposed, the human judged
    assert r3["clicks_per_mask"] == 0 and r3["review_rejection_rate"] is not None
    project = open_project(proj)
    store = project.store
    assert [m.round for m in store.models()] == [0, 1, 2, 3]
    from samkit.build import load_checkpoint

    # a retrained model keeps the starting model's AMG threshold recommendation
    assert load_checkpoint(project.round_dir(1) / "model.safetensors").amg_defaults == \
        {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.5}
    assert not store.masks(state="proposed")  # every proposal was accepted or rejected
    assert store.review_stats()["reviewed"] > 0
    # leak-free: no held-out image in any round's training export
    for k in (1, 2, 3):
        train = json.loads((project.export_dir(k) / "train.json").read_text())
        assert not any(is_heldout(im["file_name"], 0.3) for im in train["images"])
    # status shows one row per (stage, round) with clicks and seconds for the manual stages
    assert main(["engine", "status", str(proj)]) == 0
    status = capsys.readouterr().out
    assert "1 assisted-manual" in status and "2 semi-automatic" in status and "3 fully automatic" in status
    assert "rejection rate" in status
