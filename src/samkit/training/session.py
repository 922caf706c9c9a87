"""Everything between a TrainConfig and a running Trainer: data, model, fine-tuning mode,
optimizer, DDP, resume, hooks. `run_training(cfg)` is what `samkit train` / `finetune` call."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from samkit.build import build_sam, load_checkpoint
from samkit.data.loading import ExampleDataset, StreamBatchSampler, collate_examples
from samkit.data.mixture import WeightedMixture
from samkit.data.specs import build_dataset
from samkit.data.transforms import prepare_example
from samkit.errors import CheckpointError, InputError
from samkit.training import checkpointing as ckpt
from samkit.training.config import TrainConfig
from samkit.training.distributed import DistInfo, init_distributed, shutdown
from samkit.training.hooks import (
    CheckpointHook, MetricsFile, MetricsHook, ProgressHook, TimeLimitHook, ValidationHook,
)
from samkit.training.interactive import InteractiveSamStep
from samkit.training.lora import LoRAAdapters
from samkit.training.schedule import WarmupDecay, build_scheduler
from samkit.training.scratch_init import init_for_scratch_training
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


def val_batch_factory(val_sets, sam_cfg, cfg: TrainConfig, batch_size: int = 4):
    """A callable returning fresh validation batches: every held-out image once, no augmentation,
    up to val_masks_per_image masks chosen by a seed fixed per image (the same masks every time)."""
    if not val_sets:
        return None
    items = [(d, j) for d, v in enumerate(val_sets) for j in range(len(v))]

    def batches():
        for start in range(0, len(items), batch_size):
            group = [prepare_example(val_sets[d][j], sam_cfg.img_size, sam_cfg.pixel_mean, sam_cfg.pixel_std,
                                     np.random.default_rng([cfg.data.split_seed, start + k]), None,
                                     cfg.data.val_masks_per_image, cfg.data.min_mask_area_px)
                     for k, (d, j) in enumerate(items[start:start + batch_size])]
            yield collate_examples(group)

    return batches


def initial_model(cfg: TrainConfig):
    if cfg.model.checkpoint:
        return load_checkpoint(cfg.model.checkpoint, cfg.model.preset or None)
    torch.manual_seed(cfg.run.seed)  # identical random init on every rank and every rerun
    sam = build_sam(cfg.model.preset)
    init_for_scratch_training(sam)
    return sam


def apply_mode(sam, cfg: TrainConfig) -> LoRAAdapters | None:
    """Freeze what the fine-tuning mode keeps fixed; returns LoRA adapters in lora mode."""
    mode = cfg.run.mode
    sam.requires_grad_(True)
    if mode in ("frozen_encoder", "decoder_only", "lora"):
        sam.image_encoder.requires_grad_(False)
    if mode == "decoder_only":
        sam.prompt_encoder.requires_grad_(False)
    if mode == "lora":
        return LoRAAdapters(sam.image_encoder, cfg.run.lora_rank, cfg.run.lora_alpha)
    return None


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


def run_training(cfg: TrainConfig, resume: str | None = None, hooks: list | None = None) -> dict:
    """Train (or resume) per cfg. `hooks`: extra Hooks run after the built-in ones (before the
    checkpoint hook). Returns {"step", "checkpoint", "val": [val records], "trainer"}."""
    return run_in_process_group(_run, cfg, resume, hooks)


def _run(cfg: TrainConfig, resume: str | None, info: DistInfo, device: torch.device, extra_hooks: list) -> dict:
    run_dir = Path(cfg.run.run_dir)
    resume_dir = check_fresh_or_resume(run_dir, resume)
    train_sets, weights, val_sets = build_splits(cfg)
    sam = ckpt.load_model_weights(resume_dir) if resume_dir else initial_model(cfg)
    adapters = apply_mode(sam, cfg)
    state = ckpt.load_training_state(resume_dir) if resume_dir else None
    if adapters is not None and state is not None:
        if "lora" not in state:
            raise CheckpointError(f"{resume_dir} was not saved by a LoRA run; cannot resume it in lora mode")
        adapters.restore_base_weights(state["lora"]["base_qkv"])
        adapters.load_state_dict(state["lora"]["adapters"])
    sam.to(device).train()
    step_module = InteractiveSamStep(sam, cfg.prompts, cfg.loss, encoder_trainable=cfg.run.mode in ("full", "lora"),
                                     embedding_cache={} if cfg.run.cache_embeddings else None)
    if adapters is not None:
        step_module.adapters = adapters.to(device)  # a submodule: optimizer and DDP see its params
    forward_module = step_module
    if info.enabled:
        forward_module = torch.nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)  # e.g. box embeddings are unused in a step without boxes
    optimizer = build_optimizer(step_module, cfg)
    scheduler = build_scheduler(optimizer, WarmupDecay(cfg.optim.warmup_steps, cfg.run.max_steps, cfg.optim.schedule,
                                                       cfg.optim.min_lr_ratio, cfg.optim.step_milestones))
    start_step, start_position = restore_state(optimizer, scheduler, state)

    sam_cfg = sam.config
    examples = ExampleDataset(
        WeightedMixture(train_sets, weights, cfg.data.epoch_length or None, seed=cfg.run.seed),
        sam_cfg.img_size, sam_cfg.pixel_mean, sam_cfg.pixel_std, cfg.data.augment if cfg.data.use_augment else None,
        cfg.data.masks_per_image, cfg.data.min_mask_area_px)
    sampler = StreamBatchSampler(len(examples), cfg.run.batch_size, cfg.run.seed, info.rank, info.world_size,
                                 start_position)
    loader = DataLoader(examples, batch_sampler=sampler, collate_fn=collate_examples,
                        num_workers=cfg.data.num_workers, persistent_workers=cfg.data.num_workers > 0)
    metrics = MetricsFile(run_dir / "metrics.jsonl", enabled=info.is_main)
    hooks = [ProgressHook(cfg.run.progress), MetricsHook(metrics, cfg.run.log_every)]
    val_hook = None
    batches = val_batch_factory(val_sets, sam_cfg, cfg)
    if batches is not None:
        val_hook = ValidationHook(batches, metrics, cfg.run.val_every, cfg.run.val_clicks)
        hooks.append(val_hook)
    hooks.extend(extra_hooks)
    ckpt_hook = CheckpointHook(run_dir, cfg.run.ckpt_every, cfg.run.keep_checkpoints)
    hooks.append(ckpt_hook)
    if cfg.run.max_minutes > 0:
        hooks.append(TimeLimitHook(cfg.run.max_minutes))
    trainer = Trainer(cfg=cfg, step_module=step_module, forward_module=forward_module, optimizer=optimizer,
                      scheduler=scheduler, batches=iter(loader), device=device, dist_info=info, hooks=hooks,
                      start_step=start_step, start_position=start_position,
                      global_batch=cfg.run.batch_size * info.world_size, adapters=adapters)
    trainer.train()
    return {"step": trainer.step, "checkpoint": str(ckpt_hook.last_path) if ckpt_hook.last_path else None,
            "val": val_hook.history if val_hook else [], "trainer": trainer}
