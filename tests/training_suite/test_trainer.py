"""Trainer end to end on a toy dataset: exact resume, fine-tuning modes, metrics, saved config."""

import json
import math

import pytest
import torch
import yaml

from samkit.build import load_checkpoint
from samkit.errors import CheckpointError, InputError
from samkit.training import Hook, config_from_dict, run_training
from samkit.training.checkpointing import STATE_FILE
from samkit.training.session import initial_model


class StopAt(Hook):
    def __init__(self, step):
        self.step = step

    def after_step(self, t):
        if t.step == self.step:
            t.stop_requested = True


def ckpt_dir(run_dir, step):
    return run_dir / "checkpoints" / f"step_{step:06d}"


def weights(run_dir, step):
    return load_checkpoint(ckpt_dir(run_dir, step) / "model.safetensors").state_dict()


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_resume_continues_exactly(fast_config, tmp_path, mode):
    straight = config_from_dict(fast_config(run_dir=str(tmp_path / "a"), mode=mode))
    run_training(straight)
    interrupted = config_from_dict(fast_config(run_dir=str(tmp_path / "b"), mode=mode))
    out = run_training(interrupted, hooks=[StopAt(2)])
    assert out["step"] == 2
    out = run_training(interrupted, resume="auto")
    assert out["step"] == 4
    assert_same(weights(tmp_path / "a", 4), weights(tmp_path / "b", 4))
    sa = torch.load(ckpt_dir(tmp_path / "a", 4) / STATE_FILE, weights_only=True)
    sb = torch.load(ckpt_dir(tmp_path / "b", 4) / STATE_FILE, weights_only=True)
    assert sa["position"] == sb["position"] == 4 * 2
    for pa, pb in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values()):
        assert torch.equal(pa["exp_avg"], pb["exp_avg"])


def test_metrics_validation_and_config_next_to_checkpoints(fast_config, tmp_path):
    cfg = config_from_dict(fast_config(val_every=2))
    out = run_training(cfg)
    run_dir = tmp_path / "run"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    assert {"loss", "focal", "dice", "iou_mse", "lr", "grad_norm", "images_per_s"} <= set(train[0])
    assert [r["step"] for r in val] == [0, 2, 4]
    assert len(val[0]["miou_clicks"]) == 5 and 0 <= val[-1]["miou_box"] <= 1 and val[0]["num_masks"] > 0
    assert all(0 <= r["auc_1pt"] <= 1 for r in val)  # the threshold-free first-click ranking
    for step in (2, 4):
        saved = yaml.safe_load((ckpt_dir(run_dir, step) / "train_config.yaml").read_text())
        assert config_from_dict(saved) == cfg
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_000004"
    assert out["val"][-1]["step"] == 4


def test_existing_run_is_never_overwritten(fast_config):
    cfg = config_from_dict(fast_config(max_steps=2))
    run_training(cfg)
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        run_training(cfg)


def test_frozen_modes_keep_frozen_weights(fast_config, tmp_path):
    init = initial_model(config_from_dict(fast_config())).state_dict()  # the run's own from-scratch init
    for mode, frozen, trained in [("frozen_encoder", ["image_encoder."], ["mask_decoder.", "prompt_encoder.mask_downscaling"]),
                                  ("decoder_only", ["image_encoder.", "prompt_encoder."], ["mask_decoder."])]:
        cfg = config_from_dict(fast_config(run_dir=str(tmp_path / mode), mode=mode, max_steps=2))
        run_training(cfg)
        w = weights(tmp_path / mode, 2)
        for k in w:
            if any(k.startswith(p) for p in frozen):
                assert torch.equal(w[k], init[k]), (mode, k)
        assert all(any(not torch.equal(w[k], init[k]) for k in w if k.startswith(p)) for p in trained), mode


def test_lora_changes_only_qkv_of_the_encoder(fast_config, tmp_path):
    init = initial_model(config_from_dict(fast_config())).state_dict()
    run_training(config_from_dict(fast_config(mode="lora", max_steps=2)))
    w = weights(tmp_path / "run", 2)
    enc = [k for k in w if k.startswith("image_encoder.")]
    changed = {k for k in enc if not torch.equal(w[k], init[k])}
    assert changed and all(k.endswith("qkv.weight") for k in changed)


def test_embedding_cache_needs_a_frozen_encoder_without_augmentation(fast_config, tmp_path):
    bad = fast_config(mode="full", cache_embeddings=True)
    with pytest.raises(InputError, match="cache_embeddings"):
        run_training(config_from_dict(bad))
    d = fast_config(mode="frozen_encoder", cache_embeddings=True, max_steps=3)
    d["data"]["use_augment"] = False
    out = run_training(config_from_dict(d))
    cache = out["trainer"].step_module.embedding_cache
    assert 0 < len(cache) <= 3  # 3 training images, each encoded once


def test_validation_needs_at_least_one_click(fast_config):
    """run.val_clicks 0 would leave the validator nothing to score (no first click, no AUC): named."""
    with pytest.raises(InputError, match="run.val_clicks must be >= 1, got 0"):
        run_training(config_from_dict(fast_config(val_clicks=0)))


def test_unknown_config_key_is_named():
    with pytest.raises(InputError, match="optim.learning_rate"):
        config_from_dict({"optim": {"learning_rate": 1}})


def test_curves_png_from_metrics(tmp_path):
    from samkit.training.curves import plot_run

    lines = [{"kind": "val", "step": s, "miou_1pt": 0.1 * s, "miou_box": 0.2, "miou_3pt": 0.3, "miou_clicks": [0.1, 0.2, 0.3]}
             for s in (0, 1)] + [{"kind": "train", "step": s, "loss": 1.0 / (s + 1)} for s in range(1, 5)]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines))
    png = plot_run(path, tmp_path / "c.png", "t")
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_scratch_init_gives_the_encoder_mae_sincos_positions():
    from samkit.training.scratch_init import sincos_2d

    table = sincos_2d(8, 3, 5)
    assert table.shape == (3, 5, 8)
    # channels 0-1: sin(y * w), 2-3: cos(y * w), 4-5: sin(x * w), 6-7: cos(x * w); w = (1, 1/100)
    assert table[2, 4, 0].item() == pytest.approx(math.sin(2.0), abs=1e-6)
    assert table[2, 4, 3].item() == pytest.approx(math.cos(0.02), abs=1e-6)
    assert table[2, 4, 4].item() == pytest.approx(math.sin(4.0), abs=1e-6)
    sam = initial_model(config_from_dict({"data": {"train": [{"path": "x"}]}}))
    pos = sam.image_encoder.pos_embed[0]
    assert torch.equal(pos, sincos_2d(pos.shape[-1], *pos.shape[:2]))


def test_bf16_autocast_and_gradient_accumulation_run(fast_config, tmp_path):
    d = fast_config(max_steps=2, precision="bf16")
    d["optim"]["grad_accum"] = 2
    out = run_training(config_from_dict(d))
    last = out["trainer"].last
    assert out["step"] == 2 and math.isfinite(last["loss"]) and last["grad_norm"] > 0
    assert out["trainer"].position == 2 * 2 * 2  # steps x accumulation x batch
