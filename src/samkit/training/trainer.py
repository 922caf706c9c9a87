"""A small training loop with hooks (detectron2-style): the loop does optimisation only; progress,
metrics, validation, checkpoints and time limits are hooks.

One optimizer step = `grad_accum` micro-batches. Each micro-batch's prompt-simulation randomness
is seeded from (seed, step, micro-batch, rank), and the data stream position advances by a fixed
amount per step, so a resumed run repeats exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

import numpy as np
import torch

from samkit.data.loading import TrainBatch
from samkit.training.config import TrainConfig
from samkit.training.distributed import DistInfo, all_reduce_mean


class Hook:
    """Override any of these; `trainer` exposes step, max_steps, last (the latest logs), cfg, ..."""

    def before_train(self, trainer: "Trainer") -> None: ...

    def after_step(self, trainer: "Trainer") -> None: ...

    def after_train(self, trainer: "Trainer") -> None: ...


def step_seed(seed: int, step: int, micro: int, rank: int) -> int:
    return int(np.random.default_rng([seed, step, micro, rank, 11]).integers(2**62))


class Trainer:
    """step_module: InteractiveSamStep or MaskedAutoencoder (its DDP wrapper as `forward_module`),
    which returns (loss, scalar logs) and exposes the Sam being trained as `.sam`; batches: an
    iterator of TrainBatch / MaeBatch (one micro-batch per item, `step_args(seed)` = forward args); start_step / start_position: where a
    resumed run continues; global_batch: examples all ranks consume per micro-batch."""

    def __init__(self, *, cfg: TrainConfig, step_module, forward_module, optimizer, scheduler,
                 batches: Iterator[TrainBatch], device: torch.device, dist_info: DistInfo, hooks: list[Hook],
                 start_step: int = 0, start_position: int = 0, global_batch: int = 1, adapters=None):
        self.cfg, self.step_module, self.forward_module = cfg, step_module, forward_module
        self.optimizer, self.scheduler, self.batches = optimizer, scheduler, batches
        self.device, self.dist, self.hooks, self.adapters = device, dist_info, hooks, adapters
        self.step, self.position, self.global_batch = start_step, start_position, global_batch
        self.max_steps = cfg.run.max_steps
        self.stop_requested = False
        self.last: dict = {}
        self.start_time = time.time()
        self.params = [p for p in forward_module.parameters() if p.requires_grad]

    @property
    def sam(self):
        return self.step_module.sam

    def train(self) -> None:
        for h in self.hooks:
            h.before_train(self)
        while self.step < self.max_steps and not self.stop_requested:
            self.run_step()
            for h in self.hooks:
                h.after_step(self)
        for h in self.hooks:
            h.after_train(self)

    def run_step(self) -> None:
        cfg = self.cfg
        accum = cfg.optim.grad_accum
        t0 = time.perf_counter()
        self.forward_module.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        images = masks = 0
        round_iou = None
        for micro in range(accum):
            batch = next(self.batches).to(self.device)
            sync = contextlib.nullcontext()
            if self.dist.enabled and micro < accum - 1:
                sync = self.forward_module.no_sync()  # all-reduce gradients once per optimizer step
            autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.run.precision == "bf16")
            with sync, autocast:
                loss, logs = self.forward_module(*batch.step_args(step_seed(cfg.run.seed, self.step, micro,
                                                                            self.dist.rank)))
            with sync:
                (loss / accum).backward()
            for k, v in logs.items():  # scalar logs (loss and its terms) are averaged over micro-batches
                if k != "round_iou":
                    sums[k] = sums.get(k, 0.0) + float(v) / accum
            if "round_iou" in logs:
                r = torch.tensor(logs["round_iou"]) / accum
                round_iou = r if round_iou is None else round_iou + r
            images += len(batch.images)
            masks += len(getattr(batch, "masks", ()))
        grad_norm = 0.0
        if cfg.optim.grad_clip > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, cfg.optim.grad_clip))
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.position += accum * self.global_batch
        if round_iou is not None:
            sums["iou_first_round"], sums["iou_last_round"] = float(round_iou[0]), float(round_iou[-1])
        sums = all_reduce_mean(sums, self.dist, self.device)
        dt = time.perf_counter() - t0
        world = self.dist.world_size
        self.last = {**sums, "lr": lr, "grad_norm": grad_norm, "step_time_s": dt,
                     "images_per_s": images * world / dt, "masks_per_s": masks * world / dt}
