"""`samkit eval` with SAM 2 models: presets, samkit and official-style checkpoints, every protocol but
attack (refused in one line)."""

from __future__ import annotations

import json

import pytest
import torch

import samkit.cli.main as cli_main
from samkit.cli.main import main

PRESET = "sam2_test_tiny"
RANDOM_LABEL = f"{PRESET} (random weights)"


@pytest.fixture(autouse=True)
def _only_eval_subcommand(monkeypatch):
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", ("eval",))


@pytest.fixture(scope="module")
def sam2_checkpoints(tmp_path_factory, one_torch_thread):
    """sam2_test_tiny as `samkit eval` builds it with --seed 0, saved both ways."""
    from samkit import save_checkpoint
    from samkit.build import load_model

    d = tmp_path_factory.mktemp("sam2eval")
    torch.manual_seed(0)
    model = load_model(PRESET, device="cpu")
    torch.save({"model": model.state_dict()}, d / "official_style.pt")
    save_checkpoint(model, d / "tiny2.safetensors")
    return d


def run_eval(tmp_path, *argv, out="out"):
    out_dir = tmp_path / out
    return main(["eval", "--out", str(out_dir), *map(str, argv)]), out_dir


def test_clicks_with_a_preset_and_the_same_weights_from_a_checkpoint(tmp_path, tiny_coco, sam2_checkpoints):
    code, out = run_eval(tmp_path, "--model", PRESET, "--model", f"mine={sam2_checkpoints / 'tiny2.safetensors'}",
                         "--data", tiny_coco, "--protocol", "clicks", "--max-clicks", "2", "--max-images", "1",
                         "--max-objects", "2")
    assert code == 0
    models = json.loads((out / "results.json").read_text())["models"]
    assert set(models) == {RANDOM_LABEL, "mine"}
    s = models[RANDOM_LABEL]["summary"]["all"]
    assert s["count"] == 2 and len(s["miou_score"]) == 2 and all(0 <= v <= 1 for v in s["miou_score"])
    # Seeded random weights = the checkpoint's weights: the same numbers through two loading paths.
    assert models["mine"]["summary"] == models[RANDOM_LABEL]["summary"]
    assert RANDOM_LABEL in (out / "results.md").read_text()


def test_box_protocol_with_preset_colon_official_checkpoint(tmp_path, tiny_coco, sam2_checkpoints):
    spec = f"{PRESET}:{sam2_checkpoints / 'official_style.pt'}"
    code, out = run_eval(tmp_path, "--model", spec, "--data", tiny_coco, "--protocol", "box", "--max-images", "1")
    assert code == 0
    (label,) = json.loads((out / "results.json").read_text())["models"]
    s = json.loads((out / "results.json").read_text())["models"][label]["summary"]
    assert label == "official_style" and s["all"]["count"] == 2 and 0 <= s["all"]["miou_gt_box"] <= 1


def test_amg_protocol_runs_the_sam2_generator(tmp_path, tiny_coco):
    code, out = run_eval(tmp_path, "--model", PRESET, "--data", tiny_coco, "--protocol", "amg", "--max-images", "1",
                         "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
                         "--box-nms-thresh", "1.0", "--max-proposals", "10,100")
    assert code == 0
    s = json.loads((out / "results.json").read_text())["models"][RANDOM_LABEL]["summary"]
    # 16 points x 3 masks, nothing filtered: every proposal survives (NMS off).
    assert s["num_gt"]["all"] == 2 and 0 <= s["AR@100"]["all"] <= 1 and s["proposals_per_image"] == 48


@pytest.mark.parametrize("argv, message", [
    (["--model", PRESET, "--protocol", "attack"], "SAM 1 only"),
    (["--model", "grabcut", "--model", "CKPT", "--protocol", "attack"], "SAM 1 only"),
    (["--model", "sam3_hiera_q", "--protocol", "clicks"], "sam2.1_hiera_t"),
])
def test_refusals_are_one_line_and_exit_2(tmp_path, tiny_coco, sam2_checkpoints, capsys, argv, message):
    argv = [str(sam2_checkpoints / "tiny2.safetensors") if a == "CKPT" else a for a in argv]
    code, out = run_eval(tmp_path, *argv, "--data", tiny_coco)
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (out / "results.json").exists()
