"""The trainer's hooks: progress bar, JSONL metrics, validation, checkpoints, wall-time limit.

Only rank 0 prints, writes and validates; the others wait at a barrier, so every rank leaves a
hook at the same point.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from samkit.training.checkpointing import prune_checkpoints, save_training_checkpoint
from samkit.training.distributed import barrier, broadcast_object
from samkit.training.trainer import Hook, Trainer
from samkit.training.validation import evaluate_interactive


class MetricsFile:
    """Appends one JSON object per line; rank 0 only."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


class ProgressHook(Hook):
    def __init__(self, enabled: bool = True):
        self.enabled, self.bar = enabled, None

    def before_train(self, t: Trainer) -> None:
        self.bar = tqdm(total=t.max_steps, initial=t.step, desc="train", unit="step",
                        disable=not (self.enabled and t.dist.is_main), dynamic_ncols=True)

    def after_step(self, t: Trainer) -> None:
        self.bar.update(1)
        shown = {"loss": f"{t.last['loss']:.3f}"}
        if "iou_last_round" in t.last:  # SAM training; MAE pre-training has no masks
            shown["iou"] = f"{t.last['iou_last_round']:.2f}"
        shown.update(img_s=f"{t.last['images_per_s']:.1f}", lr=f"{t.last['lr']:.1e}")
        self.bar.set_postfix(shown)

    def after_train(self, t: Trainer) -> None:
        self.bar.close()


class MetricsHook(Hook):
    """Writes {"kind": "train", step, loss, ...} every `every` steps (and at the last step)."""

    def __init__(self, metrics: MetricsFile, every: int):
        self.metrics, self.every = metrics, max(1, every)

    def after_step(self, t: Trainer) -> None:
        if t.step % self.every == 0 or t.step == t.max_steps:
            self.metrics.write({"kind": "train", "step": t.step, "position": t.position,
                                "elapsed_s": round(time.time() - t.start_time, 2), **t.last})


class PeriodicHook(Hook):
    """Runs `_run(trainer)` at step 0 of a fresh run, every `every` steps and at the end (once per
    step). Subclasses: validation, MAE reconstruction pictures."""

    every = 0
    done_at: int | None = None

    def _run(self, t: Trainer) -> None:
        raise NotImplementedError

    def before_train(self, t: Trainer) -> None:
        if t.step == 0:
            self._run(t)

    def after_step(self, t: Trainer) -> None:
        if self.every > 0 and t.step % self.every == 0:
            self._run(t)

    def after_train(self, t: Trainer) -> None:
        if self.done_at != t.step:
            self._run(t)


class ValidationHook(PeriodicHook):
    """Interactive mIoU (1 point, box, N clicks) on the held-out split at step 0 of a fresh run,
    every `every` steps and at the end."""

    def __init__(self, val_batches: Callable[[], Iterable], metrics: MetricsFile, every: int, clicks: int = 5,
                 evaluate: Callable = evaluate_interactive, summary: Callable | None = None):
        """evaluate(sam, batches, clicks, device) -> metrics dict (SAM 1's evaluate_interactive, or
        SAM 2's evaluate_sam2 on clip batches); summary(metrics, clicks) -> the line printed."""
        self.val_batches, self.metrics, self.every, self.clicks = val_batches, metrics, every, clicks
        self.evaluate, self.summary = evaluate, summary
        self.done_at: int | None = None
        self.history: list[dict] = []

    def _run(self, t: Trainer) -> None:
        if t.dist.is_main:
            sam = t.sam
            if t.adapters is not None:  # evaluate what a user loading the checkpoint would get
                with t.adapters.merged_into():
                    res = self.evaluate(sam, self.val_batches(), self.clicks, t.device)
            else:
                res = self.evaluate(sam, self.val_batches(), self.clicks, t.device)
            record = {"kind": "val", "step": t.step, **res}
            self.metrics.write(record)
            self.history.append(record)
            if self.summary is not None:
                tqdm.write(f"[val step {t.step}] {self.summary(res, self.clicks)}")
            else:
                auc = f"  1pt AUC {res['auc_1pt']:.3f}" if "auc_1pt" in res else ""
                tqdm.write(f"[val step {t.step}] mIoU 1pt {res['miou_1pt']:.3f}  box {res['miou_box']:.3f}  "
                           f"{self.clicks}pt {res[f'miou_{self.clicks}pt']:.3f}{auc}  ({res['num_masks']} masks)")
        self.done_at = t.step
        barrier(t.dist)


class CheckpointHook(Hook):
    """Saves every `every` steps and at the end (also when stopped early by the time limit)."""

    def __init__(self, run_dir: str | Path, every: int, keep: int):
        self.run_dir, self.every, self.keep = Path(run_dir), every, keep
        self.saved_at: int | None = None
        self.last_path: Path | None = None

    def _save(self, t: Trainer) -> None:
        if t.dist.is_main:
            # Step modules with weights outside the Sam (MAE's decoder) hand them over for resuming.
            extra = t.step_module.extra_state() if hasattr(t.step_module, "extra_state") else None
            self.last_path = save_training_checkpoint(
                self.run_dir, t.step, t.sam, t.cfg, t.optimizer, t.scheduler, t.position, t.adapters, extra)
            prune_checkpoints(self.run_dir, self.keep)
            tqdm.write(f"saved {self.last_path}")
        self.saved_at = t.step
        barrier(t.dist)

    def before_train(self, t: Trainer) -> None:
        self.saved_at = t.step  # a resumed run's start is already saved

    def after_step(self, t: Trainer) -> None:
        if self.every > 0 and t.step % self.every == 0:
            self._save(t)

    def after_train(self, t: Trainer) -> None:
        if self.saved_at != t.step:
            self._save(t)


class TimeLimitHook(Hook):
    """Stops training after `max_minutes` of wall time (rank 0 decides, all ranks follow)."""

    def __init__(self, max_minutes: float):
        self.max_s = max_minutes * 60

    def after_step(self, t: Trainer) -> None:
        over = (time.time() - t.start_time) > self.max_s
        t.stop_requested = bool(broadcast_object(over, t.dist))


class TimeFittedScheduleHook(Hook):
    """With a wall-time budget, makes the run's length fit it: the step rate is measured (from
    `measure_from` steps after the start, past data-loader and kernel warm-up) and every `refit_every`
    steps the remaining time is turned into steps; the trainer's max_steps and the schedule's length
    (every WarmupDecay among the scheduler's lr lambdas) become that, so the learning rate decays
    to its end just as the time runs out rather than being cut off mid-schedule.

    The schedule's shape over the steps already taken changes a little at each refit; it is smooth
    because the measured rate only steadies. Rank 0 measures, every rank follows."""

    def __init__(self, max_minutes: float, measure_from: int = 10, refit_every: int = 10):
        self.max_s = max_minutes * 60
        self.measure_from, self.refit_every = measure_from, refit_every
        self.first_step: int | None = None
        self.mark: tuple[int, float] | None = None

    def after_step(self, t: Trainer) -> None:
        if self.first_step is None:
            self.first_step = t.step - 1
        done = t.step - self.first_step
        if done == self.measure_from:
            self.mark = (t.step, time.time())
        if self.mark is None or done <= self.measure_from or (done - self.measure_from) % self.refit_every:
            return
        now = time.time()
        rate = (t.step - self.mark[0]) / max(now - self.mark[1], 1e-6)  # steps per second
        remaining_s = self.max_s - (now - t.start_time)
        fitted = broadcast_object(max(t.step + 1, t.step + int(remaining_s * rate)), t.dist)
        t.max_steps = fitted
        for fn in getattr(t.scheduler, "lr_lambdas", ()):
            if hasattr(fn, "max_steps"):
                fn.max_steps = fitted
