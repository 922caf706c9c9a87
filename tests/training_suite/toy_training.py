"""Toy dataset + fast config shared by the training tests and the DDP worker processes
(importable as `training.toy_training`, since tests/ is on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def write_toy_dataset(root: Path, n_images: int = 4, seed: int = 0) -> Path:
    """images/k.png (48x64 RGB) + labels/k.png (uint8 label map with 2 rectangles of their own colour)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    for k in range(n_images):
        img = (rng.random((48, 64, 3)) * 60 + 90).astype(np.uint8)
        lab = np.zeros((48, 64), np.uint8)
        for inst in (1, 2):
            y, x = rng.integers(2, 28), rng.integers(2, 40)
            h, w = rng.integers(8, 18), rng.integers(8, 22)
            lab[y:y + h, x:x + w] = inst
            img[y:y + h, x:x + w] = (200, 40, 40) if inst == 1 else (40, 40, 200)
        Image.fromarray(img).save(root / "images" / f"{k}.png")
        Image.fromarray(lab).save(root / "labels" / f"{k}.png")
    return root


def fast_config_dict(data: Path, run_dir: Path, **run) -> dict:
    """3 rounds instead of 11, 2 images x 2 masks per step: a step takes well under a second."""
    return {
        "model": {"preset": "tiny"},
        "data": {"train": [{"path": str(data)}], "val_fraction": 0.25, "masks_per_image": 2, "val_masks_per_image": 2},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "prompts": {"num_point_rounds": 1, "num_mask_only_rounds": 1},
        "run": {"run_dir": str(run_dir), "batch_size": 2, "max_steps": 4, "val_every": 0, "ckpt_every": 2,
                "log_every": 1, "progress": False, "threads": 1, **run},
    }


def ddp_worker(rank: int, world: int, port: int, cfg_dict: dict, out_dir: str) -> None:
    """One rank of a gloo run, as torchrun would start it; saves its final weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from samkit.training import config_from_dict, run_training

    out = run_training(config_from_dict(cfg_dict))
    trainer = out["trainer"]
    torch.save({"weights": trainer.sam.state_dict(), "position": trainer.position, "step": trainer.step},
               os.path.join(out_dir, f"rank{rank}.pt"))
