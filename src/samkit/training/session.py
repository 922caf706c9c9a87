"""Everything between a TrainConfig and a running Trainer: data, model, fine-tuning mode,
optimizer, DDP, resume, hooks. `run_training(cfg)` is what `samkit train` / `finetune` call; it
trains SAM 1 here and hands SAM 2 models (a SAM 2 preset or checkpoint) to sam2_session."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from samkit.build import build_sam, load_checkpoint
from samkit.data.loading import ExampleDataset, StreamBatchSampler, collate_examples
from samkit.data.mixture import WeightedMixture
from samkit.data.transforms import prepare_example
from samkit.errors import CheckpointError
from samkit.modeling.sam2.sam2_base import SAM2Base
from samkit.training import checkpointing as ckpt
from samkit.training.config import TrainConfig
from samkit.training.distributed import DistInfo
from samkit.training.hooks import (
    MetricsFile, MetricsHook, ProgressHook, ValidationHook,
)
from samkit.training.interactive import InteractiveSamStep
from samkit.training.lora import LoRAAdapters
from samkit.training.run_setup import (  # noqa: F401  (re-exported: pretrain_session and tests use them)
    build_optimizer, build_splits, check_fresh_or_resume, restore_state, run_in_process_group,
    train_with_checkpoints,
)
from samkit.training.sam2_session import run_sam2
from samkit.training.schedule import WarmupDecay, build_scheduler
from samkit.training.scratch_init import init_for_scratch_training

log = logging.getLogger("samkit.training")


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
    """The model a fresh run starts from: the checkpoint, else the preset with a random init
    (identical on every rank and rerun). SAM 1 or SAM 2, whichever the checkpoint / preset is."""
    if cfg.model.checkpoint:
        return load_checkpoint(cfg.model.checkpoint, cfg.model.preset or None)
    torch.manual_seed(cfg.run.seed)
    sam = build_sam(cfg.model.preset)
    if not isinstance(sam, SAM2Base):  # SAM 2's modules initialise themselves as the reference does
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


def run_training(cfg: TrainConfig, resume: str | None = None, hooks: list | None = None) -> dict:
    """Train (or resume) per cfg. `hooks`: extra Hooks run after the built-in ones (before the
    checkpoint hook). Returns {"step", "checkpoint", "val": [val records], "trainer"}."""
    return run_in_process_group(_run, cfg, resume, hooks)


def _run(cfg: TrainConfig, resume: str | None, info: DistInfo, device: torch.device, extra_hooks: list) -> dict:
    run_dir = Path(cfg.run.run_dir)
    resume_dir = check_fresh_or_resume(run_dir, resume)
    sam = ckpt.load_model_weights(resume_dir) if resume_dir else initial_model(cfg)
    if isinstance(sam, SAM2Base):
        return run_sam2(cfg, sam, resume_dir, info, device, extra_hooks)
    train_sets, weights, val_sets = build_splits(cfg)
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
    return train_with_checkpoints(cfg, run_dir, hooks, val_hook, step_module=step_module,
                                  forward_module=forward_module, optimizer=optimizer, scheduler=scheduler,
                                  batches=iter(loader), device=device, dist_info=info, start_step=start_step,
                                  start_position=start_position, global_batch=cfg.run.batch_size * info.world_size,
                                  adapters=adapters)
