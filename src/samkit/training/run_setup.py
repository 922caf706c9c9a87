"""Family-agnostic pieces of a training run (SAM 1, SAM 2 and MAE sessions share them): the
train/val split of the data sources, the optimizer, fresh-or-resume checks, restoring a training
state, and the process group around a run."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from samkit.data.specs import build_dataset
from samkit.errors import CheckpointError, InputError
from samkit.training import checkpointing as ckpt
from samkit.training.config import TrainConfig
from samkit.training.distributed import init_distributed, shutdown

log = logging.getLogger("samkit.training")


def build_splits(cfg: TrainConfig, need_masks: bool = True):
    """(train datasets, weights, val datasets): val from cfg.data.val, else held out of train.
    need_masks=False (MAE pre-training) also accepts folders of plain images."""
    train, weights, val = [], [], []

    def build(spec):
        ds = build_dataset(spec)
        if need_masks and not getattr(ds, "has_masks", True):
            raise InputError(f"{spec.path} holds images without masks: SAM training needs masks to prompt "
                             "(a plain image folder is material for `samkit pretrain`)")
        return ds

    for spec in cfg.data.train:
        ds = build(spec)
        if ds.issues:
            log.warning("%s: %d malformed annotations skipped (see dataset.issues)", ds.name, len(ds.issues))
        if not cfg.data.val and cfg.data.val_fraction > 0:
            ds, held = ds.split(cfg.data.val_fraction, cfg.data.split_seed)
            val.append(held)
        if len(ds) == 0:
            raise InputError(f"training source {spec.path} has no image with a usable mask")
        train.append(ds)
        weights.append(spec.weight)
    val.extend(build(spec) for spec in cfg.data.val)
    return train, weights, [v for v in val if len(v)]


def build_optimizer(module: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms, embeddings and positional tables (1-D or pos)."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or "pos" in name or "embed" in name.split(".")[-1] else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))


def check_fresh_or_resume(run_dir: Path, resume: str | None) -> Path | None:
    """The checkpoint folder to resume from, or None for a fresh run (refused if the run dir has checkpoints)."""
    resume_dir = ckpt.resolve_resume(run_dir, resume) if resume else None
    if resume_dir is None and any(ckpt.checkpoint_root(run_dir).glob("step_*")):
        raise CheckpointError(f"{run_dir} already holds checkpoints; pass --resume auto to continue that run "
                              "or choose another --run.run-dir (nothing was overwritten)")
    return resume_dir


def restore_state(optimizer, scheduler, state: dict | None) -> tuple[int, int]:
    """Load optimizer, scheduler and RNGs from a training state; returns (start step, data position)."""
    if state is None:
        return 0, 0
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    ckpt.set_rng_state(state["rng"])
    return int(state["step"]), int(state["position"])


def run_in_process_group(run, cfg, resume: str | None, hooks: list | None) -> dict:
    """Validate cfg, set the thread count, join torchrun's process group (if any), call
    run(cfg, resume, info, device, hooks) and always leave the group again."""
    cfg.validate()
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    info, device = init_distributed(cfg.run.device)
    try:
        return run(cfg, resume, info, device, hooks or [])
    finally:
        shutdown(info)
