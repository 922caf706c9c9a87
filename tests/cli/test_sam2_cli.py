"""`samkit segment` and `samkit auto` with SAM 2 presets and checkpoints, and their bad-input lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samkit.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "chelsea.png"  # 451 x 300
PRESET = "sam2_test_tiny"
FAST_AUTO = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]


@pytest.fixture(scope="module")
def sam2_files(tmp_path_factory, one_torch_thread):
    """The seeded sam2_test_tiny model saved as an official-style {"model": ...} .pt and as samkit
    .safetensors, plus the model itself (the answers the CLI must give)."""
    from samkit import save_checkpoint
    from samkit.build import load_model

    d = tmp_path_factory.mktemp("sam2ckpt")
    torch.manual_seed(0)
    model = load_model(PRESET, device="cpu")
    torch.save({"model": model.state_dict()}, d / "sam2_official_style.pt")
    save_checkpoint(model, d / "sam2_tiny.safetensors")
    return {"pt": d / "sam2_official_style.pt", "st": d / "sam2_tiny.safetensors", "model": model}


def _direct_prediction(model, points, labels, multimask):
    from samkit.image_io import load_image
    from samkit.inference.sam2_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(model)
    predictor.set_image(load_image(EXAMPLE))
    return predictor.segment(np.array(points, float), np.array(labels), multimask_output=multimask)


@pytest.mark.parametrize("how", ["safetensors", "official_pt"])
def test_segment_with_a_sam2_checkpoint(sam2_files, tmp_path, how, capsys):
    ckpt = ["--checkpoint", str(sam2_files["st"])] if how == "safetensors" else \
        ["--checkpoint", str(sam2_files["pt"]), "--model", PRESET]
    out = tmp_path / "out"
    rc = main(["segment", str(EXAMPLE), "--point", "200,150", "--point", "60,40,0", "--out", str(out), *ckpt])
    assert rc == 0, capsys.readouterr().err
    result = json.loads((out / "chelsea.json").read_text())
    assert result["model"]["name"] == PRESET and result["model"]["family"] == "sam2"
    assert (result["width"], result["height"]) == (451, 300)
    assert set(result["timing_s"]) == {"load_model", "set_image", "predict"}
    (rec,) = result["masks"]
    mask = np.array(Image.open(out / rec["file"])) > 0
    want = _direct_prediction(sam2_files["model"], [[200, 150], [60, 40]], [1, 0], multimask=False)
    np.testing.assert_array_equal(mask, want.masks[0])
    assert rec["predicted_iou"] == pytest.approx(float(want.iou_predictions[0]), abs=1e-6)
    assert rec["area"] == int(mask.sum())
    assert np.array(Image.open(out / "chelsea.overlay.png")).shape == (300, 451, 3)


def test_segment_one_click_best_and_multimask_with_a_preset_name(sam2_files, tmp_path):
    out = tmp_path / "one"
    assert main(["segment", str(EXAMPLE), "--point", "200,150", "--out", str(out),
                 "--checkpoint", str(sam2_files["st"])]) == 0
    (rec,) = json.loads((out / "chelsea.json").read_text())["masks"]
    want = _direct_prediction(sam2_files["model"], [[200, 150]], [1], multimask=True)
    assert rec["output_index"] == int(np.argmax(want.iou_predictions))  # the best of three, as SAM's demo
    out = tmp_path / "three"
    assert main(["segment", str(EXAMPLE), "--point", "200,150", "--box", "100,50,350,280", "--multimask",
                 "--out", str(out), "--model", PRESET]) == 0  # random weights from the name alone
    result = json.loads((out / "chelsea.json").read_text())
    assert len(result["masks"]) == 3 and result["model"]["name"] == PRESET


def test_auto_with_sam2_matches_the_generator(sam2_files, tmp_path, capsys):
    from samkit.automatic.sam2_generator import SAM2AutomaticMaskGenerator
    from samkit.image_io import load_image

    out = tmp_path / "auto"
    rc = main(["auto", str(EXAMPLE), "--out", str(out), "--checkpoint", str(sam2_files["st"]), *FAST_AUTO])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "chelsea.png.json").read_text())
    gen = doc["samkit"]["settings"]["generator"]
    # Unset flags take SAM 2's defaults, SAM 2's own options included.
    assert gen["points_per_side"] == 4 and gen["box_nms_thresh"] == 0.7
    assert gen["use_m2m"] is False and gen["multimask_output"] is True and gen["mask_threshold"] == 0.0
    want = SAM2AutomaticMaskGenerator(sam2_files["model"], points_per_side=4, pred_iou_thresh=0,
                                      stability_score_thresh=0, output_mode="coco_rle").generate(load_image(EXAMPLE))
    assert len(doc["annotations"]) == len(want) >= 1
    got = sorted((a["area"], round(a["predicted_iou"], 5)) for a in doc["annotations"])
    assert got == sorted((w["area"], round(w["predicted_iou"], 5)) for w in want)
    assert (out / "chelsea.png.overlay.jpg").is_file()


def test_auto_sam2_options_and_defaults(sam2_files, tmp_path, capsys):
    out = tmp_path / "m2m"
    rc = main(["auto", str(EXAMPLE), "--out", str(out), "--model", PRESET, *FAST_AUTO, "--use-m2m",
               "--no-multimask-output", "--points-per-batch", "7"])
    assert rc == 0, capsys.readouterr().err
    gen = json.loads((out / "chelsea.png.json").read_text())["samkit"]["settings"]["generator"]
    assert gen["use_m2m"] is True and gen["multimask_output"] is False and gen["points_per_batch"] == 7
    # Nothing given: SAM2AutomaticMaskGenerator's thresholds (0.8 / 0.95), not SAM 1's.
    out = tmp_path / "defaults"
    assert main(["auto", str(EXAMPLE), "--out", str(out), "--model", PRESET, "--points-per-side", "4"]) == 0
    gen = json.loads((out / "chelsea.png.json").read_text())["samkit"]["settings"]["generator"]
    assert gen["pred_iou_thresh"] == 0.8 and gen["stability_score_thresh"] == 0.95


def test_sam2_only_flags_are_refused_for_sam1(tmp_path, capsys):
    rc = main(["auto", str(EXAMPLE), "--out", str(tmp_path / "o"), "--model", "tiny", *FAST_AUTO, "--use-m2m"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--use-m2m" in err and "SAM 1" in err and len(err.splitlines()) == 1


def test_unknown_preset_lists_sam2_names(tmp_path, capsys):
    rc = main(["segment", str(EXAMPLE), "--point", "5,5", "--out", str(tmp_path / "o"), "--model", "sam3_hiera_t"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "sam2.1_hiera_t" in err and "vit_b" in err and len(err.splitlines()) == 1


def test_sam2_checkpoint_with_a_sam1_model_in_a_real_process(sam2_files, tmp_path, capsys):
    """The installed entry point, as a user runs it: one clear line on stderr, exit 2."""
    argv = ["segment", str(EXAMPLE), "--point", "5,5", "--out", str(tmp_path / "o"), "--model", "vit_b"]
    proc = subprocess.run([sys.executable, "-m", "samkit", *argv, "--checkpoint", str(sam2_files["pt"])],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "SAM 2" in err and "vit_b" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert main([*argv, "--checkpoint", str(sam2_files["st"])]) == 2  # samkit's safetensors: the same refusal
    err = capsys.readouterr().err.strip()
    assert "SAM 2" in err and "vit_b" in err and len(err.splitlines()) == 1
