"""Training checkpoints that resume exactly.

Layout, one folder per saved step (written to a temp folder, then renamed, so a crash never
leaves a half checkpoint under a real name):

    <run_dir>/checkpoints/step_000500/
        model.safetensors   samkit checkpoint (weights + SamConfig), loadable by samkit.load_model;
                            with LoRA the adapters are merged in
        train_state.pt      optimizer, scheduler, step, data position, RNG states, LoRA adapters and
                            the unmerged encoder qkv weights (torch.load(weights_only=True) safe)
        train_config.yaml   the full TrainConfig of the run (usable with `samkit train --config`)
    <run_dir>/checkpoints/latest   name of the newest complete checkpoint folder
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from samkit.build import load_checkpoint, save_checkpoint
from samkit.errors import CheckpointError
from samkit.training.config import TrainConfig, save_config_yaml

STATE_FILE, MODEL_FILE, CONFIG_FILE = "train_state.pt", "model.safetensors", "train_config.yaml"


def rng_state() -> dict:
    """Every global RNG as plain tensors/ints (weights_only-loadable)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_training_checkpoint(run_dir: str | Path, step: int, sam, cfg: TrainConfig, optimizer, scheduler,
                             position: int, adapters=None, extra: dict | None = None) -> Path:
    """Write step_<step>/ atomically and point `latest` at it. Returns the folder."""
    root = checkpoint_root(run_dir)
    final = root / f"step_{step:06d}"
    if final.exists():
        raise CheckpointError(f"{final} already exists; refusing to overwrite a saved checkpoint")
    tmp = root / f".step_{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    meta = {"step": str(step), "train_mode": cfg.run.mode}
    if adapters is not None:
        with adapters.merged_into():
            save_checkpoint(sam, tmp / MODEL_FILE, metadata=meta)
    else:
        save_checkpoint(sam, tmp / MODEL_FILE, metadata=meta)
    state = {
        "step": step, "position": position, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "rng": rng_state(), "extra": extra or {},
    }
    if adapters is not None:
        state["lora"] = {"adapters": adapters.state_dict(), "base_qkv": adapters.base_weights()}
    torch.save(state, tmp / STATE_FILE)
    save_config_yaml(cfg, tmp / CONFIG_FILE)
    os.replace(tmp, final)
    (root / "latest.tmp").write_text(final.name + "\n")
    os.replace(root / "latest.tmp", root / "latest")
    return final


def resolve_resume(run_dir: str | Path, resume: str) -> Path:
    """'auto' -> the run's latest checkpoint; else a checkpoint folder (or its model.safetensors)."""
    if resume == "auto":
        latest = checkpoint_root(run_dir) / "latest"
        if not latest.is_file():
            raise CheckpointError(f"--resume auto: no checkpoint in {checkpoint_root(run_dir)} yet")
        path = checkpoint_root(run_dir) / latest.read_text().strip()
    else:
        path = Path(resume)
        if path.is_file():
            path = path.parent
    if not (path / STATE_FILE).is_file() or not (path / MODEL_FILE).is_file():
        raise CheckpointError(f"{path} is not a training checkpoint (needs {MODEL_FILE} and {STATE_FILE})")
    return path


def load_training_state(ckpt_dir: Path) -> dict:
    try:
        return torch.load(ckpt_dir / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{ckpt_dir / STATE_FILE}: cannot read training state ({type(e).__name__}: {e})") from None


def load_model_weights(ckpt_dir: Path):
    return load_checkpoint(ckpt_dir / MODEL_FILE)


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` step_* folders this run wrote (keep=0 keeps all)."""
    if keep <= 0:
        return
    steps = sorted(p for p in checkpoint_root(run_dir).glob("step_*") if p.is_dir())
    for old in steps[:-keep]:
        shutil.rmtree(old)
