"""Encoder distillation on tiny presets: the loss falls, and a resumed run repeats an uninterrupted one."""

from __future__ import annotations

import json

import numpy as np
import torch

from samkit.training.distill import DistillConfig, distill, load_student_encoder, synthetic_pool
from samkit.training.distill_images import Augment, ImagePool, draw_batch


def _cfg(run_dir, **kw) -> DistillConfig:
    base = dict(run_dir=str(run_dir), student="sam2_test_tiny", teacher="tiny", sources=(), batch_size=4,
                lr=2e-3, warmup_steps=2, max_steps=6, log_every=1, ckpt_every=100, val_every=100, val_images=8)
    base.update(kw)
    return DistillConfig(**base)


def _val_losses(run_dir) -> list[float]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x["val_loss"] for x in lines if "val_loss" in x]


def test_distillation_lowers_the_held_out_loss(tmp_path):
    pool, val_pool = synthetic_pool(12, 96, seed=0), synthetic_pool(8, 96, seed=1)
    out = distill(_cfg(tmp_path / "run", max_steps=12, val_every=12), pool, val_pool, progress=False)
    first, last = _val_losses(tmp_path / "run")
    assert out["step"] == 12 and last < 0.7 * first
    state = load_student_encoder(tmp_path / "run" / "student_encoder.safetensors")
    assert any(k.startswith("trunk.") for k in state) and any(k.startswith("neck.") for k in state)


def test_resume_repeats_exactly(tmp_path):
    pool, val_pool = synthetic_pool(6, 96, seed=0), synthetic_pool(4, 96, seed=1)
    distill(_cfg(tmp_path / "straight"), pool, val_pool, progress=False)
    # max_minutes=0 stops (with a checkpoint) after the first step; the second call resumes.
    stopped = distill(_cfg(tmp_path / "resumed", max_minutes=0.0), pool, val_pool, progress=False)
    assert stopped["step"] == 1
    resumed = distill(_cfg(tmp_path / "resumed"), pool, val_pool, progress=False)
    assert resumed["step"] == 6
    a = load_student_encoder(tmp_path / "straight" / "student_encoder.safetensors")
    b = load_student_encoder(tmp_path / "resumed" / "student_encoder.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_batches_depend_only_on_seed_and_step():
    pool = synthetic_pool(5, 64, seed=0)
    a = draw_batch(pool, Augment(), 48, 3, seed=7, step=4)
    assert a.shape == (3, 48, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, draw_batch(pool, Augment(), 48, 3, seed=7, step=4))
    assert not np.array_equal(a, draw_batch(pool, Augment(), 48, 3, seed=7, step=5))


def test_pool_draws_follow_the_weights():
    ones, zeros = [np.ones((4, 4, 3), np.uint8)], [np.zeros((4, 4, 3), np.uint8)]
    pool = ImagePool(["a", "b"], [ones, zeros], [3.0, 1.0])
    rng = np.random.default_rng(0)
    share = np.mean([pool.draw(rng)[0, 0, 0] for _ in range(2000)])
    assert 0.7 < share < 0.8
