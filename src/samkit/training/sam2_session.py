"""A SAM 2 training run: what session.py does for SAM 1, with clips instead of images.

The same Trainer, optimizer, schedule, checkpoints, DDP, resume, progress and metrics as SAM 1;
what differs is the data (clip sources of `sam2.num_frames` frames: videos, and images moved by
random affine motion), the step module (Sam2ClipStep: memory across the clip, corrective clicks,
SAM 2's losses), the fine-tuning modes' module names and the validation (evaluate_sam2). Every
saved checkpoint folder also holds `model_sam2.pt`, the official `{"model": state_dict}` layout
that the `sam2` package's `build_sam2(config, ckpt_path)` loads.
"""

from __future__ import annotations

import dataclasses

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from samkit.data.clip_loading import ClipExampleDataset, build_clip_sources, collate_clips
from samkit.data.clip_transforms import ClipAugmentConfig
from samkit.data.loading import StreamBatchSampler
from samkit.data.mixture import WeightedMixture
from samkit.errors import CheckpointError, InputError
from samkit.training import checkpointing as ckpt
from samkit.training.config import TrainConfig
from samkit.training.distributed import DistInfo
from samkit.training.hooks import (
    CheckpointHook, MetricsFile, MetricsHook, ProgressHook, ValidationHook,
)
from samkit.training.lora import LoRAAdapters
from samkit.training.run_setup import build_optimizer, restore_state, train_with_checkpoints
from samkit.training.sam2_step import Sam2ClipStep
from samkit.training.sam2_validation import evaluate_sam2, summary_line
from samkit.training.schedule import WarmupDecay, build_scheduler
from samkit.training.trainer import Hook, Trainer

log = logging.getLogger("samkit.training")

OFFICIAL_FILE = "model_sam2.pt"

# What each fine-tuning mode trains. SAM 2's heads are sam_prompt_encoder / sam_mask_decoder (the
# decoder includes conv_s0 / conv_s1, the high-res projections); memory attention, memory encoder
# and the object-pointer parts are the tracker, trained in every mode except decoder_only.
DECODER_ONLY_PREFIXES = ("sam_mask_decoder.",)


def apply_sam2_mode(sam, mode: str, lora_rank: int, lora_alpha: float) -> LoRAAdapters | None:
    """Freeze what the fine-tuning mode keeps fixed: full trains everything; frozen_encoder and lora
    freeze the image encoder (lora adds adapters on its attention qkv); decoder_only trains only the
    mask decoder. Returns the LoRA adapters in lora mode."""
    sam.requires_grad_(True)
    if mode in ("frozen_encoder", "decoder_only", "lora"):
        sam.image_encoder.requires_grad_(False)
    if mode == "decoder_only":
        for name, p in sam.named_parameters():
            p.requires_grad_(name.startswith(DECODER_ONLY_PREFIXES))
    if mode == "lora":
        return LoRAAdapters(sam.image_encoder, lora_rank, lora_alpha)
    return None


def save_official_layout(sam, path: Path, adapters: LoRAAdapters | None = None) -> None:
    """The model's weights as {"model": state_dict} (keys as the sam2 package names them),
    written atomically; LoRA adapters merged in."""
    def write():
        state = {k: v.detach().cpu().contiguous() for k, v in sam.state_dict().items()}
        tmp = path.with_suffix(".tmp")
        torch.save({"model": state}, tmp)
        os.replace(tmp, path)

    if adapters is not None:
        with adapters.merged_into():
            write()
    else:
        write()


class OfficialLayoutHook(Hook):
    """After each checkpoint the CheckpointHook writes, put the official layout beside it."""

    def __init__(self, ckpt_hook: CheckpointHook):
        self.ckpt_hook = ckpt_hook
        self.written: Path | None = None

    def _maybe_write(self, t: Trainer) -> None:
        path = self.ckpt_hook.last_path
        if t.dist.is_main and path is not None and path != self.written and path.is_dir():
            save_official_layout(t.sam, path / OFFICIAL_FILE, t.adapters)
            self.written = path

    def after_step(self, t: Trainer) -> None:
        self._maybe_write(t)

    def after_train(self, t: Trainer) -> None:
        self._maybe_write(t)


def clip_splits(cfg: TrainConfig, image_size: int):
    """(train clip sources, weights, val clip sources): val from cfg.data.val, else held out of
    every train source (videos stay whole, so no frame of a validation video is trained on)."""
    s2 = cfg.sam2
    train = build_clip_sources(cfg.data.train, s2.num_frames, s2.max_objects, min_side_px=image_size)
    weights = [spec.weight for spec in cfg.data.train]
    val = []
    if cfg.data.val:
        val = build_clip_sources(cfg.data.val, s2.num_frames, s2.val_max_objects, min_side_px=image_size)
    elif cfg.data.val_fraction > 0:
        pairs = [src.split(cfg.data.val_fraction, cfg.data.split_seed) for src in train]
        train, val = [p[0] for p in pairs], [p[1] for p in pairs]
        for v in val:  # a split gives views with their own attributes: only the held-out side changes
            v.sampling = dataclasses.replace(v.sampling, max_objects=s2.val_max_objects)
    for spec, src in zip(cfg.data.train, train):
        if getattr(src, "issues", None):
            log.warning("%s: %d malformed annotations skipped", src.name, len(src.issues))
        if len(src) == 0:
            raise InputError(f"training source {spec.path} has no clip with a usable object")
    return train, weights, [v for v in val if len(v)]


def clip_val_batches(val_sets, image_size: int, cfg: TrainConfig, batch_size: int = 2):
    """A callable giving fresh validation ClipBatches: every held-out item once, no augmentation,
    the clip and objects chosen by a seed fixed per item (the same every time)."""
    if not val_sets:
        return None
    s2 = cfg.sam2
    items = [(d, j) for d, v in enumerate(val_sets) for j in range(len(v))]
    datasets = [ClipExampleDataset(v, image_size, None, s2.num_frames, s2.val_max_objects, cfg.data.min_mask_area_px)
                for v in val_sets]

    def batches():
        for start in range(0, len(items), batch_size):
            group = []
            for k, (d, j) in enumerate(items[start:start + batch_size]):
                seed = int(np.random.default_rng([cfg.data.split_seed, start + k]).integers(2**62))
                ex = datasets[d][(j, seed)]
                if ex["masks"].shape[1] > 0:
                    group.append(ex)
            if group:
                yield collate_clips(group)

    return batches


def run_sam2(cfg: TrainConfig, sam, resume_dir: Path | None, info: DistInfo, device: torch.device,
             extra_hooks: list) -> dict:
    """Train (or resume) the SAM2Base `sam` per cfg; returns what session.run_training returns."""
    run_dir = Path(cfg.run.run_dir)
    if cfg.run.cache_embeddings:
        raise InputError("run.cache_embeddings is for SAM 1 runs; SAM 2 runs compute features per clip")
    image_size = sam.image_size
    train_sets, weights, val_sets = clip_splits(cfg, image_size)
    adapters = apply_sam2_mode(sam, cfg.run.mode, cfg.run.lora_rank, cfg.run.lora_alpha)
    state = ckpt.load_training_state(resume_dir) if resume_dir else None
    if adapters is not None and state is not None:
        if "lora" not in state:
            raise CheckpointError(f"{resume_dir} was not saved by a LoRA run; cannot resume it in lora mode")
        adapters.restore_base_weights(state["lora"]["base_qkv"])
        adapters.load_state_dict(state["lora"]["adapters"])
    sam.to(device).train()
    s2 = cfg.sam2
    step_module = Sam2ClipStep(sam, s2.prompts, cfg.loss, s2.loss, s2.loss_grid,
                               encoder_trainable=cfg.run.mode in ("full", "lora"))
    if adapters is not None:
        step_module.adapters = adapters.to(device)  # a submodule: optimizer and DDP see its params
    forward_module = step_module
    if info.enabled:
        forward_module = torch.nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)  # e.g. mask prompts leave the point embeddings unused
    optimizer = build_optimizer(step_module, cfg)
    scheduler = build_scheduler(optimizer, WarmupDecay(cfg.optim.warmup_steps, cfg.run.max_steps, cfg.optim.schedule,
                                                       cfg.optim.min_lr_ratio, cfg.optim.step_milestones))
    start_step, start_position = restore_state(optimizer, scheduler, state)

    augment = ClipAugmentConfig() if cfg.data.use_augment else None
    examples = ClipExampleDataset(WeightedMixture(train_sets, weights, cfg.data.epoch_length or None, seed=cfg.run.seed),
                                  image_size, augment, s2.num_frames, s2.max_objects, cfg.data.min_mask_area_px)
    sampler = StreamBatchSampler(len(examples), cfg.run.batch_size, cfg.run.seed, info.rank, info.world_size,
                                 start_position)
    loader = DataLoader(examples, batch_sampler=sampler, collate_fn=collate_clips,
                        num_workers=cfg.data.num_workers, persistent_workers=cfg.data.num_workers > 0)
    metrics = MetricsFile(run_dir / "metrics.jsonl", enabled=info.is_main)
    hooks = [ProgressHook(cfg.run.progress), MetricsHook(metrics, cfg.run.log_every)]
    val_hook = None
    batches = clip_val_batches(val_sets, image_size, cfg)
    if batches is not None:
        val_hook = ValidationHook(batches, metrics, cfg.run.val_every, cfg.run.val_clicks,
                                  evaluate=evaluate_sam2, summary=summary_line)
        hooks.append(val_hook)
    hooks.extend(extra_hooks)
    return train_with_checkpoints(cfg, run_dir, hooks, val_hook, lambda ckpt_hook: [OfficialLayoutHook(ckpt_hook)],
                                  step_module=step_module, forward_module=forward_module, optimizer=optimizer,
                                  scheduler=scheduler, batches=iter(loader), device=device, dist_info=info,
                                  start_step=start_step, start_position=start_position,
                                  global_batch=cfg.run.batch_size * info.world_size, adapters=adapters)
