"""Validation of MAE pre-training: held-out masked-patch loss and reconstruction pictures.

Each picture has one row per held-out image: original | what the encoder saw (masked patches
grey) | reconstruction with the visible patches pasted back, as in the MAE paper's figures. The
same images and the same masks are used at every validation, so pictures of a run compare.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from samkit.training.distributed import barrier
from samkit.training.hooks import MetricsFile, PeriodicHook
from samkit.training.trainer import Trainer

VAL_SEED = 1234  # masks drawn for validation; fixed so every validation sees the same ones


def to_uint8(images: torch.Tensor, pixel_mean, pixel_std) -> np.ndarray:
    """B x 3 x S x S normalised -> B x S x S x 3 uint8."""
    mean = torch.tensor(pixel_mean)[:, None, None]
    std = torch.tensor(pixel_std)[:, None, None]
    rgb = images.detach().float().cpu() * std + mean
    return rgb.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()


def picture_grid(original: np.ndarray, masked: np.ndarray, recon: np.ndarray, patch: int) -> np.ndarray:
    """B x S x S x 3 originals and reconstructions, masked B x N -> (B*S) x (3*S + gaps) x 3 picture."""
    b, s = original.shape[:2]
    g = s // patch
    hidden = np.repeat(np.repeat(masked.reshape(b, g, g), patch, axis=1), patch, axis=2)[..., None]
    seen = np.where(hidden, np.uint8(128), original)
    gap = np.full((b, s, 4, 3), 255, np.uint8)
    rows = np.concatenate([original, gap, seen, gap, recon], axis=2)
    return rows.reshape(b * s, rows.shape[2], 3)


class ReconstructionHook(PeriodicHook):
    """At step 0 of a fresh run, every `every` steps and at the end: held-out loss into the metrics
    file and `<run_dir>/reconstructions/step_XXXXXX.png`. val_images: V x 3 x S x S normalised."""

    def __init__(self, val_images: torch.Tensor, run_dir: str | Path, metrics: MetricsFile, every: int,
                 pictures: int, pixel_mean, pixel_std, batch_size: int = 8):
        self.val_images, self.out_dir, self.metrics = val_images, Path(run_dir) / "reconstructions", metrics
        self.every, self.pictures, self.batch_size = every, pictures, batch_size
        self.pixel_mean, self.pixel_std = pixel_mean, pixel_std
        self.done_at: int | None = None
        self.history: list[dict] = []

    def _run(self, t: Trainer) -> None:
        if t.dist.is_main:
            mae = t.step_module
            was_training = mae.training
            mae.eval()
            losses, shown = [], None
            for start in range(0, len(self.val_images), self.batch_size):
                batch = self.val_images[start:start + self.batch_size].to(t.device)
                recon, masked, loss = mae.reconstruct(batch, VAL_SEED + start)
                losses.append(loss * len(batch))
                if shown is None:
                    k = min(self.pictures, len(batch))
                    shown = (batch[:k], recon[:k], masked[:k])
            mae.train(was_training)
            val_loss = sum(losses) / len(self.val_images)
            record = {"kind": "val", "step": t.step, "mae_val_loss": val_loss, "num_images": len(self.val_images)}
            self.metrics.write(record)
            self.history.append(record)
            if self.pictures > 0 and shown is not None:
                images, recon, masked = shown
                grid = picture_grid(to_uint8(images, self.pixel_mean, self.pixel_std), masked.cpu().numpy(),
                                    to_uint8(recon, self.pixel_mean, self.pixel_std), mae.patch)
                self.out_dir.mkdir(parents=True, exist_ok=True)
                Image.fromarray(grid).save(self.out_dir / f"step_{t.step:06d}.png")
            tqdm.write(f"[val step {t.step}] masked-patch loss {val_loss:.4f} ({len(self.val_images)} held-out images)")
        self.done_at = t.step
        barrier(t.dist)


def load_pretraining_checkpoint(checkpoint_dir: str | Path):
    """A `samkit pretrain` checkpoint folder -> its MaskedAutoencoder (encoder + MAE decoder), eval mode."""
    from samkit.training import checkpointing as ckpt
    from samkit.training.config import load_config_file
    from samkit.training.mae import MaskedAutoencoder
    from samkit.training.pretrain_config import PretrainConfig

    folder = ckpt.resolve_resume(Path(checkpoint_dir), "auto") if (Path(checkpoint_dir) / "checkpoints").is_dir() \
        else ckpt.resolve_resume(Path(checkpoint_dir).parent, str(checkpoint_dir))
    cfg = load_config_file(folder / ckpt.CONFIG_FILE, PretrainConfig)
    state = ckpt.load_training_state(folder)
    if "mae_head" not in state.get("extra", {}):
        from samkit.errors import CheckpointError

        raise CheckpointError(f"{folder} was not saved by `samkit pretrain` (no MAE decoder in it)")
    mae = MaskedAutoencoder(ckpt.load_model_weights(folder), cfg.mae)
    mae.load_extra_state(state["extra"])
    return mae.eval()


def reconstruction_picture(checkpoint_dir: str | Path, image_paths: list[str | Path], out_png: str | Path,
                           seed: int = VAL_SEED) -> float:
    """Draw a pretrained MAE's reconstructions of any images (central squares) into `out_png`;
    returns their mean masked-patch loss."""
    from samkit.image_io import load_image
    from samkit.training.mae_data import center_square_crop

    mae = load_pretraining_checkpoint(checkpoint_dir)
    cfg = mae.sam.config
    mean = torch.tensor(cfg.pixel_mean)[:, None, None]
    std = torch.tensor(cfg.pixel_std)[:, None, None]
    crops = [torch.from_numpy(center_square_crop(load_image(p), cfg.img_size).copy()).permute(2, 0, 1).float()
             for p in image_paths]
    images = (torch.stack(crops) - mean) / std
    recon, masked, loss = mae.reconstruct(images, seed)
    grid = picture_grid(to_uint8(images, cfg.pixel_mean, cfg.pixel_std), masked.numpy(),
                        to_uint8(recon, cfg.pixel_mean, cfg.pixel_std), mae.patch)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(out_png)
    return loss
