"""Retraining between rounds: export the accepted masks, fine-tune the project's current model with
samkit's training procedure (samkit.training.session.run_training: the paper's interactive
simulation, 11 rounds per mask, focal+dice+IoU losses), evaluate old and new model on the same
held-out objects, and adopt the new one only when held-out quality does not drop.

Round k's files: DIR/export/round_k/{train,heldout}.json, DIR/models/round_k/model.safetensors and
metrics.json (run/ holds the training run). A retrain killed midway leaves the previous model in
place (nothing is adopted before the store's add_model transaction) and is simply run again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

from samkit.engine.export import export_round
from samkit.engine.heldout_eval import HeldoutImage, heldout_from_export, heldout_miou
from samkit.engine.project import EngineProject
from samkit.errors import InputError


@dataclasses.dataclass(frozen=True)
class RetrainOptions:
    """CPU-sized defaults: a few hundred fine-tuning steps of a small batch."""

    steps: int = 200
    batch_size: int = 2
    lr: float = 1e-4
    mode: str = "full"  # full | frozen_encoder | decoder_only | lora (samkit finetune's modes)
    masks_per_image: int = 8
    heldout_fraction: float = 0.2
    eval_clicks: int = 5
    max_eval_objects_per_image: int = 8
    include_stage3: bool = False  # train on unreviewed automatic masks too
    threads: int = 0  # torch threads during training; 0 = torch's default
    seed: int = 0
    progress: bool = True


def _train_config(project: EngineProject, train_json: Path, base: Path, run_dir: Path, opt: RetrainOptions):
    from samkit.data.specs import DatasetSpec
    from samkit.training.config import DataSection, ModelSection, OptimSection, RunSection, TrainConfig

    return TrainConfig(
        model=ModelSection(preset="", checkpoint=str(base)),
        data=DataSection(train=(DatasetSpec(str(train_json), format="coco", images=str(project.images_folder)),),
                         val=(), val_fraction=0.0, masks_per_image=opt.masks_per_image),
        optim=OptimSection(lr=opt.lr, warmup_steps=max(1, min(20, opt.steps // 5))),
        run=RunSection(run_dir=str(run_dir), max_steps=opt.steps, batch_size=opt.batch_size, seed=opt.seed,
                       device="auto", threads=opt.threads, mode=opt.mode, log_every=10, val_every=10**9,
                       ckpt_every=opt.steps, keep_checkpoints=1, progress=opt.progress),
    ).validate()


def _save_round_model(trained: Path, dst: Path, amg_defaults: dict | None) -> None:
    """The trained weights as the round's checkpoint, atomically; the starting model's AMG threshold
    recommendation is carried over (the built-in model's predicted IoUs are low: without it, SAM's
    0.88 would make the fine-tuned model's automatic stages keep nothing)."""
    from samkit.build import AMG_DEFAULTS_KEY, load_checkpoint, save_checkpoint

    if amg_defaults:  # save_checkpoint writes atomically itself
        save_checkpoint(load_checkpoint(trained), dst, metadata={AMG_DEFAULTS_KEY: json.dumps(amg_defaults)})
        return
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    shutil.copyfile(trained, tmp)
    os.replace(tmp, dst)


def _quality(metrics: dict, clicks: int) -> float:
    """The adoption score: mean of 1-click and k-click held-out mIoU."""
    return 0.5 * (metrics["miou_1click"] + metrics[f"miou_{clicks}click"])


def retrain(project: EngineProject, opt: RetrainOptions = RetrainOptions(),
            heldout: list[HeldoutImage] | None = None, log=print) -> dict:
    """Run one retraining round; returns the round's metrics (also in models/round_k/metrics.json).

    heldout: the objects to evaluate on (default: the accepted masks of the held-out images; the
    simulated annotator passes the ground truth of those images instead)."""
    from samkit.build import load_model
    from samkit.training.session import run_training

    store = project.store
    new_round = max([m.round for m in store.models()] + [store.state()["round"]]) + 1
    exp = export_round(project, new_round, opt.heldout_fraction, (1, 2, 3) if opt.include_stage3 else (1, 2))
    if exp["train_masks"] == 0:
        raise InputError(f"{project.dir}: no accepted masks on training images yet (held-out images are "
                         f"{opt.heldout_fraction:.0%} of the project and never trained on); annotate some first")
    if heldout is None:
        heldout = heldout_from_export(exp["heldout"], project.images_folder, opt.max_eval_objects_per_image)
    log(f"round {new_round}: training on {exp['train_masks']} masks of {exp['train_images']} images, "
        f"evaluating on {sum(len(h.masks) for h in heldout)} held-out objects of {len(heldout)} images")
    base = project.current_checkpoint_file()
    t0 = time.perf_counter()
    old_model = load_model(checkpoint=base, device="cpu", dtype="float32")
    old = heldout_miou(old_model, heldout, opt.eval_clicks) if heldout else None
    amg_defaults = getattr(old_model, "amg_defaults", None)
    del old_model
    if old is not None and not any(m.round == 0 for m in store.models()):
        store.add_model(0, str(project.current_model_path()), old, adopted=True)  # the starting model's quality
    round_dir = project.round_dir(new_round)
    run_dir = round_dir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a killed earlier attempt of this round starts over
    round_dir.mkdir(parents=True, exist_ok=True)
    cfg = _train_config(project, exp["train"], base, run_dir, opt)
    t1 = time.perf_counter()
    out = run_training(cfg)
    train_s = time.perf_counter() - t1
    ckpt_file = round_dir / "model.safetensors"
    _save_round_model(Path(out["checkpoint"]) / "model.safetensors", ckpt_file, amg_defaults)
    new_model = load_model(checkpoint=ckpt_file, device="cpu", dtype="float32")
    new = heldout_miou(new_model, heldout, opt.eval_clicks) if heldout else None
    if old is None or new is None:
        adopted, reason = True, "no held-out objects to compare on: adopted"
    else:
        adopted = _quality(new, opt.eval_clicks) >= _quality(old, opt.eval_clicks)
        reason = "held-out quality did not drop" if adopted else "held-out quality dropped: kept the previous model"
    metrics = {**(new or {}), "previous": old, "previous_model": str(project.current_model_path()),
               "adopted": adopted, "reason": reason, "train_masks": exp["train_masks"],
               "train_images": exp["train_images"], "heldout_images": len(heldout), "steps": opt.steps,
               "train_seconds": round(train_s, 1), "seconds": round(time.perf_counter() - t0, 1)}
    tmp = round_dir / ".metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=1))
    os.replace(tmp, round_dir / "metrics.json")
    store.add_model(new_round, str(ckpt_file), metrics, adopted)  # the moment the new model takes over
    k = opt.eval_clicks
    if new is not None and old is not None:
        log(f"round {new_round}: held-out mIoU 1 click {old['miou_1click']:.3f} -> {new['miou_1click']:.3f}, "
            f"{k} clicks {old[f'miou_{k}click']:.3f} -> {new[f'miou_{k}click']:.3f}; "
            f"{'adopted' if adopted else 'NOT adopted'} ({reason})")
    return {"round": new_round, **metrics}
