"""Everything between a PretrainConfig and a running MAE pre-training: images, model, optimizer,
DDP, resume, hooks. `run_pretraining(cfg)` is what `samkit pretrain` calls.

It runs under the same Trainer, checkpoints, progress bar, metrics file, time limit and DDP as SAM
training; its checkpoints' model.safetensors is a complete Sam whose encoder is pretrained, so
`samkit train --model.checkpoint <run>/checkpoints/step_N/model.safetensors` continues from it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from samkit.build import build_sam, load_checkpoint
from samkit.data.loading import StreamBatchSampler
from samkit.data.mixture import WeightedMixture
from samkit.errors import CheckpointError
from samkit.training import checkpointing as ckpt
from samkit.training.distributed import DistInfo
from samkit.training.hooks import MetricsFile, MetricsHook, ProgressHook
from samkit.training.mae import MaskedAutoencoder
from samkit.training.mae_data import MaeImageDataset, collate_images
from samkit.training.mae_pictures import ReconstructionHook
from samkit.training.pretrain_config import PretrainConfig
from samkit.training.schedule import WarmupDecay, build_scheduler
from samkit.training.scratch_init import init_for_scratch_training
from samkit.training.session import (
    build_optimizer, build_splits, check_fresh_or_resume, restore_state, run_in_process_group,
    train_with_checkpoints,
)

log = logging.getLogger("samkit.training")

MAX_VAL_IMAGES = 64  # held-out images scored at each validation (all of them up to this many)


def initial_model(cfg: PretrainConfig):
    if cfg.model.checkpoint:
        return load_checkpoint(cfg.model.checkpoint, cfg.model.preset or None)
    torch.manual_seed(cfg.run.seed)
    sam = build_sam(cfg.model.preset)
    init_for_scratch_training(sam)  # MAE's fixed sine-cosine position table
    return sam


def val_images(val_sets, sam_cfg) -> torch.Tensor | None:
    """V x 3 x S x S: central square crops of up to MAX_VAL_IMAGES held-out images, taken
    round-robin over the sources so every kind of image is scored and drawn."""
    if not val_sets:
        return None
    ds = [MaeImageDataset(v, sam_cfg.img_size, sam_cfg.pixel_mean, sam_cfg.pixel_std, augment=False) for v in val_sets]
    order = [(d, j) for j in range(max(len(v) for v in ds)) for d in range(len(ds)) if j < len(ds[d])]
    return torch.stack([ds[d][j]["image"] for d, j in order[:MAX_VAL_IMAGES]])


def run_pretraining(cfg: PretrainConfig, resume: str | None = None, hooks: list | None = None) -> dict:
    """Pre-train (or resume) per cfg. Returns {"step", "checkpoint", "val": [val records], "trainer"}."""
    return run_in_process_group(_run, cfg, resume, hooks)


def _run(cfg: PretrainConfig, resume: str | None, info: DistInfo, device: torch.device, extra_hooks: list) -> dict:
    run_dir = Path(cfg.run.run_dir)
    resume_dir = check_fresh_or_resume(run_dir, resume)
    train_sets, weights, val_sets = build_splits(cfg, need_masks=False)
    sam = ckpt.load_model_weights(resume_dir) if resume_dir else initial_model(cfg)
    mae = MaskedAutoencoder(sam, cfg.mae)
    state = ckpt.load_training_state(resume_dir) if resume_dir else None
    if state is not None:
        if "mae_head" not in state.get("extra", {}):
            raise CheckpointError(f"{resume_dir} was not saved by `samkit pretrain` (no MAE decoder in it)")
        mae.load_extra_state(state["extra"])
    if state is None:
        torch.manual_seed(cfg.run.seed + 1)  # the MAE decoder's init, identical on every rank
    mae.to(device).train()
    forward_module = mae
    if info.enabled:
        forward_module = torch.nn.parallel.DistributedDataParallel(
            mae, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = build_optimizer(mae, cfg)
    scheduler = build_scheduler(optimizer, WarmupDecay(cfg.optim.warmup_steps, cfg.run.max_steps, cfg.optim.schedule,
                                                       cfg.optim.min_lr_ratio, cfg.optim.step_milestones))
    start_step, start_position = restore_state(optimizer, scheduler, state)

    sam_cfg = sam.config
    images = MaeImageDataset(WeightedMixture(train_sets, weights, cfg.data.epoch_length or None, seed=cfg.run.seed),
                             sam_cfg.img_size, sam_cfg.pixel_mean, sam_cfg.pixel_std, augment=cfg.data.use_augment)
    sampler = StreamBatchSampler(len(images), cfg.run.batch_size, cfg.run.seed, info.rank, info.world_size,
                                 start_position)
    loader = DataLoader(images, batch_sampler=sampler, collate_fn=collate_images,
                        num_workers=cfg.data.num_workers, persistent_workers=cfg.data.num_workers > 0)
    metrics = MetricsFile(run_dir / "metrics.jsonl", enabled=info.is_main)
    hooks = [ProgressHook(cfg.run.progress), MetricsHook(metrics, cfg.run.log_every)]
    held_out = val_images(val_sets, sam_cfg)  # every rank: the hook's barrier needs all of them
    recon_hook = None
    if held_out is not None:
        recon_hook = ReconstructionHook(held_out, run_dir, metrics, cfg.run.val_every, cfg.mae.pictures,
                                        sam_cfg.pixel_mean, sam_cfg.pixel_std)
        hooks.append(recon_hook)
    hooks.extend(extra_hooks)
    return train_with_checkpoints(cfg, run_dir, hooks, recon_hook, step_module=mae, forward_module=forward_module,
                                  optimizer=optimizer, scheduler=scheduler, batches=iter(loader), device=device,
                                  dist_info=info, start_step=start_step, start_position=start_position,
                                  global_batch=cfg.run.batch_size * info.world_size)
