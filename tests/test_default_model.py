"""The built-in model shipped in the package (docs/model-card.md): present, small, loaded by
default everywhere, and it segments the CC0 example photo sensibly with no checkpoint given."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

import samkit
from samkit.build import read_checkpoint_config
from samkit.default_model import DEFAULT_WEIGHTS
from samkit.image_io import load_image

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chelsea.png"  # CC0, scikit-image
CAT_CLICK_XY = (250, 170)  # on the cat's body


def test_weights_ship_in_the_package_as_fp16_under_the_size_budget():
    assert DEFAULT_WEIGHTS.is_file()
    assert DEFAULT_WEIGHTS.stat().st_size < 40 * 2**20
    with safe_open(str(DEFAULT_WEIGHTS), framework="pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert "F16" in dtypes and "F32" not in dtypes
    cfg, meta = read_checkpoint_config(DEFAULT_WEIGHTS)
    assert cfg == samkit.get_preset("vit_cpu") and meta["samkit_builtin"] == "1"


def test_load_model_without_arguments_returns_it_in_float32():
    model = samkit.load_model()
    assert model.config.name == "vit_cpu" and not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.fixture(scope="module")
def cat_prediction():
    predictor = samkit.SamPredictor(samkit.load_model())
    predictor.set_image(load_image(EXAMPLE))
    return predictor.predict(point_coords=np.array([CAT_CLICK_XY]), point_labels=np.array([1]))


def test_one_click_on_the_cat_gives_a_sensible_mask(cat_prediction):
    masks, iou, _ = cat_prediction
    best = masks[int(np.argmax(iou))]
    x, y = CAT_CLICK_XY
    assert best[y, x], "the mask must contain the clicked pixel"
    # an object, not a speck and not the whole photo (the cat covers roughly a third of it)
    assert 0.05 < best.mean() < 0.8
    assert np.isfinite(iou).all()


def test_segment_cli_needs_no_checkpoint(tmp_path):
    from samkit.cli.main import main

    rc = main(["segment", str(EXAMPLE), "--point", f"{CAT_CLICK_XY[0]},{CAT_CLICK_XY[1]}", "--out", str(tmp_path)])
    assert rc == 0
    result = json.loads((tmp_path / "chelsea.json").read_text())
    assert result["model"]["name"] == "vit_cpu" and result["model"]["checkpoint"] == "builtin"
    assert (tmp_path / "chelsea.overlay.png").is_file()


def test_auto_cli_needs_no_checkpoint(tmp_path):
    from samkit.cli.main import main

    rc = main(["auto", str(EXAMPLE), "--out", str(tmp_path), "--points-per-side", "8", "--format", "coco"])
    assert rc == 0
    assert any(tmp_path.rglob("*.json"))


def test_eval_builtin_spec_points_at_the_shipped_weights():
    from samkit.evaluation.model_specs import parse_model_spec

    spec = parse_model_spec("builtin")
    assert spec.kind == "sam" and spec.checkpoint == DEFAULT_WEIGHTS and spec.label == "samkit built-in"
