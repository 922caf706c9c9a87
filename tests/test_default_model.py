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
    assert cfg == samkit.get_preset("tiny_vit_cpu") and meta["samkit_builtin"] == "1"


def test_load_model_without_arguments_returns_it_in_float32():
    model = samkit.load_model()
    assert model.config.name == "tiny_vit_cpu" and not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.fixture(scope="module")
def cat_prediction():
    predictor = samkit.SamPredictor(samkit.load_model())
    predictor.set_image(load_image(EXAMPLE))
    return predictor.predict(point_coords=np.array([CAT_CLICK_XY]), point_labels=np.array([1]))


def test_one_click_on_the_cat_gives_sensible_masks(cat_prediction):
    masks, iou, _ = cat_prediction
    x, y = CAT_CLICK_XY
    assert all(m[y, x] for m in masks), "every mask must contain the clicked pixel"
    # three ambiguity-aware masks at three different scales: from a part to a large region, never
    # a speck or the whole photo
    areas = sorted(float(m.mean()) for m in masks)
    assert 0.002 < areas[0] < areas[1] < areas[2] < 0.9
    assert areas[2] > 2 * areas[0]
    assert np.isfinite(iou).all() and ((iou > 0) & (iou < 1)).all()


def test_segment_cli_needs_no_checkpoint(tmp_path):
    from samkit.cli.main import main

    rc = main(["segment", str(EXAMPLE), "--point", f"{CAT_CLICK_XY[0]},{CAT_CLICK_XY[1]}", "--multimask",
               "--out", str(tmp_path)])
    assert rc == 0
    result = json.loads((tmp_path / "chelsea.json").read_text())
    assert result["model"]["name"] == "tiny_vit_cpu" and result["model"]["checkpoint"] == "builtin"
    assert (tmp_path / "chelsea.overlay.png").is_file() and len(result["masks"]) == 3


def test_auto_cli_needs_no_checkpoint(tmp_path):
    from samkit.cli.main import main

    rc = main(["auto", str(EXAMPLE), "--out", str(tmp_path), "--points-per-side", "8", "--format", "coco"])
    assert rc == 0
    coco = json.loads((tmp_path / "coco_results.json").read_text())
    assert len(coco) > 0  # the built-in model's own thresholds keep masks


def test_eval_builtin_spec_points_at_the_shipped_weights():
    from samkit.evaluation.model_specs import parse_model_spec

    spec = parse_model_spec("builtin")
    assert spec.kind == "sam" and spec.checkpoint == DEFAULT_WEIGHTS and spec.label == "samkit built-in"


def test_automatic_masks_out_of_the_box_use_the_models_own_thresholds():
    """SAM's 0.88 / 0.95 thresholds would keep nothing of this small model's low IoU predictions;
    its checkpoint carries its own, which the generator uses unless told otherwise."""
    model = samkit.load_model()
    assert model.amg_defaults == {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.8}
    image = load_image(EXAMPLE)
    assert len(samkit.SamAutomaticMaskGenerator(model, points_per_side=8).generate(image)) > 0
    strict = samkit.SamAutomaticMaskGenerator(model, points_per_side=8, pred_iou_thresh=0.88,
                                              stability_score_thresh=0.95)
    assert strict.pred_iou_thresh == 0.88 and strict.stability_score_thresh == 0.95
    # models without a recommendation keep SAM's thresholds
    assert samkit.SamAutomaticMaskGenerator(samkit.build_sam("tiny")).pred_iou_thresh == 0.88
