"""The IoU-head refit changes scores only, learns from training-side images only, and keeps the best step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import samkit
from samkit.build import build_sam, load_checkpoint, save_checkpoint
from samkit.data import DatasetSpec, build_dataset
from samkit.errors import InputError
from samkit.training import iou_head_refit as refit
from samkit.training.validation import most_interior_pixel

from training_suite.toy_training import write_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("refit")
    data = write_toy_dataset(root / "data", n_images=8)
    torch.manual_seed(0)
    ckpt = save_checkpoint(build_sam("tiny").eval(), root / "tiny.safetensors")
    cfg = root / "train.toml"
    cfg.write_text(f'[model]\npreset = "tiny"\n[data]\nval_fraction = 0.25\n[[data.train]]\npath = "{data}"\n')
    return {"root": root, "data": data, "ckpt": ckpt, "config": cfg}


def test_features_are_the_heads_input_and_targets_the_true_ious(toy):
    model = load_checkpoint(toy["ckpt"]).eval()
    samples = [build_dataset(DatasetSpec(str(toy["data"])))[i] for i in range(2)]
    x, y = refit.click_features(model, samples, random_clicks=1, max_objects=2, min_area_px=1)
    assert x.shape == (2 * 2 * 2, model.mask_decoder.iou_prediction_head.layers[0].in_features) and y.shape == (8, 4)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    # The first click of the first object, through the public predictor: the same 3 masks' true IoUs.
    pred = samkit.SamPredictor(model)
    pred.set_image(samples[0].image_rgb)
    gt = samples[0].masks[np.argmax(samples[0].masks.reshape(len(samples[0].masks), -1).sum(1))]
    xy = most_interior_pixel(gt)[:2]
    masks, scores, _ = pred.predict(point_coords=np.array([xy]), point_labels=np.array([1]), multimask_output=True)
    iou = (masks & gt).reshape(3, -1).sum(1) / np.maximum((masks | gt).reshape(3, -1).sum(1), 1)
    np.testing.assert_allclose(y[0, 1:].numpy(), iou, atol=1e-6)
    np.testing.assert_allclose(model.mask_decoder.iou_prediction_head(x[:1])[0, 1:].detach().numpy(), scores, atol=1e-5)


def test_refit_fits_the_targets_and_keeps_the_best_selection_step():
    torch.manual_seed(0)
    head = build_sam("tiny").mask_decoder.iou_prediction_head
    x = torch.randn(400, head.layers[0].in_features)
    y = torch.sigmoid(x[:, :4] * 2)  # a learnable target: the features say which mask is best
    fit, select = (x[:300], y[:300]), (x[300:], y[300:])
    new, best = refit.refit_head(head, fit, select, steps=300, check_every=50)
    before = refit.ranking_quality(head, *select)
    after = refit.ranking_quality(new, *select)
    assert after == {k: v for k, v in best.items() if k != "step"} and best["step"] > 0
    assert after["picks_best"] > before["picks_best"] + 0.3 and after["mse"] < before["mse"]
    assert not any(p.requires_grad for p in new.parameters())


def test_cli_changes_only_the_iou_head(toy, capsys):
    out = toy["root"] / "refit.safetensors"
    assert refit.main(["--config", str(toy["config"]), "--checkpoint", str(toy["ckpt"]), "--output", str(out),
                       "--steps", "20", "--images-per-source", "6", "--min-area", "1"]) == 0
    assert "selection-split mIoU by score" in capsys.readouterr().out
    before, after = load_checkpoint(toy["ckpt"]).state_dict(), load_checkpoint(out).state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("mask_decoder.iou_prediction_head.") for k in changed)


def test_no_clickable_object_is_a_clear_error(toy):
    model = load_checkpoint(toy["ckpt"]).eval()
    sample = build_dataset(DatasetSpec(str(toy["data"])))[0]
    with pytest.raises(InputError, match="min_area_px"):
        refit.click_features(model, [sample], 0, 2, min_area_px=10**9)
