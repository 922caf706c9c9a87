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
from samkit.training.hooks import CheckpointHook, TimeFittedScheduleHook, TimeLimitHook
from samkit.training.trainer import Trainer

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


def parse_lr_scales(entries) -> list[tuple[str, float]]:
    """optim.lr_scales entries "prefix=scale" -> [(prefix, scale)] (InputError on a malformed one)."""
    out = []
    for entry in entries:
        prefix, sep, value = str(entry).partition("=")
        try:
            scale = float(value)
        except ValueError:
            scale = -1.0
        if not sep or not prefix.strip() or scale < 0:
            raise InputError(f"optim.lr_scales entry {entry!r}: expected 'module.prefix=scale' with scale >= 0, "
                             "e.g. 'sam_mask_decoder=0.25'")
        out.append((prefix.strip(), scale))
    return out


def build_optimizer(module: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms, embeddings and positional tables (1-D or pos).

    optim.lr_scales ("prefix=scale", first match wins, names as in the model's state dict) gives
    parts of the model their own learning rate, e.g. heads transplanted from a trained model a
    quarter of the rate of new modules (the reference trains its image encoder at vision_lr too)."""
    scales = parse_lr_scales(cfg.optim.lr_scales)
    groups: dict[tuple[float, bool], list] = {}
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        model_name = name.removeprefix("sam.")
        scale = next((s for prefix, s in scales if model_name.startswith(prefix)), 1.0)
        no_decay = p.ndim <= 1 or "pos" in name or "embed" in name.split(".")[-1]
        groups.setdefault((scale, no_decay), []).append(p)
    param_groups = [{"params": ps, "lr": cfg.optim.lr * scale, "weight_decay": 0.0 if no_decay else cfg.optim.weight_decay}
                    for (scale, no_decay), ps in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1]))]
    return torch.optim.AdamW(param_groups, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))


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


def train_with_checkpoints(cfg, run_dir: Path, hooks: list, history_hook=None, checkpoint_followers=None,
                           **trainer_args) -> dict:
    """The end every training session shares: checkpoint every cfg.run.ckpt_every steps (then any
    hooks checkpoint_followers(ckpt_hook) returns, which act on each saved checkpoint), stop after
    cfg.run.max_minutes, train, and report.

    trainer_args go to Trainer (step_module, optimizer, batches, dist_info, ...); cfg and hooks are
    passed for it. Returns {"step", "checkpoint" (last path or None), "val" (history_hook's
    history, [] without one), "trainer"}.
    """
    ckpt_hook = CheckpointHook(run_dir, cfg.run.ckpt_every, cfg.run.keep_checkpoints)
    hooks = [*hooks, ckpt_hook, *(checkpoint_followers(ckpt_hook) if checkpoint_followers else [])]
    if cfg.run.max_minutes > 0:
        hooks.append(TimeLimitHook(cfg.run.max_minutes))
        if cfg.run.fit_schedule_to_time:
            hooks.append(TimeFittedScheduleHook(cfg.run.max_minutes))
    trainer = Trainer(cfg=cfg, hooks=hooks, **trainer_args)
    trainer.train()
    return {"step": trainer.step, "checkpoint": str(ckpt_hook.last_path) if ckpt_hook.last_path else None,
            "val": history_hook.history if history_hook else [], "trainer": trainer}
