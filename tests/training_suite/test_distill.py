"""Encoder distillation on tiny presets: the loss falls, and a resumed run repeats an uninterrupted one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from samkit.build import build_sam, save_checkpoint
from samkit.errors import InputError
from samkit.training.distill import (DistillConfig, build_student, default_sources, distill, load_student_encoder,
                                     synthetic_pool)
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


def test_student_init_starts_from_a_checkpoints_encoder(tmp_path):
    donor = build_student("sam2_test_tiny", seed=3)
    save_checkpoint(donor, tmp_path / "donor.safetensors")
    fresh = build_student("sam2_test_tiny", seed=0)
    warm = build_student("sam2_test_tiny", seed=0, init=str(tmp_path / "donor.safetensors"))
    want, got = donor.image_encoder.state_dict(), warm.image_encoder.state_dict()
    other = fresh.image_encoder.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert not all(torch.equal(want[k], other[k]) for k in want)
    # Only the encoder comes from the donor: the heads stay the seed's.
    heads = zip(warm.sam_mask_decoder.parameters(), fresh.sam_mask_decoder.parameters())
    assert all(torch.equal(a, b) for a, b in heads)
    sam1 = tmp_path / "sam1.safetensors"
    save_checkpoint(build_sam("tiny"), sam1)
    with pytest.raises(InputError, match="not a SAM 2"):
        build_student("sam2_test_tiny", seed=0, init=str(sam1))


def test_default_sources_add_the_cache_and_leave_out_by_name():
    base = default_sources("/d")
    assert any("isbi2012" in s.path for s in base) and not any(s.path.startswith("/c/") for s in base)
    more = default_sources("/d/", "/c", leave_out=("isbi2012",))
    assert {s.path for s in more} - {s.path for s in base} == {"/c/ccp", "/c/camvid", "/c/dsb2018"}
    assert not any("isbi2012" in s.path for s in more)
