"""Decoupled encoder distillation (MobileSAM): train a SAM 2 image encoder (Hiera trunk + FPN neck)
so that its stride-16 vision feature matches a SAM 1 teacher's image embedding, by MSE.

Why this works as a warm start: samkit.training.sam2_transplant copies the teacher's prompt encoder
and mask decoder into the SAM 2 model so that, on a frame without memory (no_mem_embed starts at
zero), the SAM 2 heads compute exactly the teacher's function of the embedding. An encoder whose
feature equals the teacher's embedding therefore reproduces the teacher's masks, and the decoder
never has to be re-learnt before video training starts.

Both models see the same square S x S image (SAM 2 squashes every image to a square), each with its
own normalisation. The teacher runs online (it is ~5x cheaper than a student step), so any
augmentation is possible. Shapes: images B x S x S x 3 uint8; teacher embedding and student feature
B x C x S/16 x S/16.

Outputs under run_dir: metrics.jsonl (one line per logged step: loss, rel_loss = loss / teacher
variance, lr, seconds), checkpoints/latest.pt (student encoder, optimizer, step; read with
torch.load(weights_only=True)) and student_encoder.safetensors at the end.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from samkit.errors import InputError
from samkit.training.distill_images import Augment, ImagePool, ImageSource, draw_batch, val_views
from samkit.training.hooks import MetricsFile
from samkit.training.schedule import WarmupDecay

log = logging.getLogger("samkit.training")

SAM2_MEAN_RGB = (0.485, 0.456, 0.406)  # SAM 2: pixels / 255, then ImageNet mean / std
SAM2_STD_RGB = (0.229, 0.224, 0.225)


def default_sources(data_root: str, cache_root: str | None = None,
                    leave_out: tuple[str, ...] = ()) -> tuple[ImageSource, ...]:
    """The built-in SAM 1 model's training sources (docs/training/default_model_sam.toml), weighted
    towards what the SAM 2 model is judged on: photos and video frames. cache_root: the folder
    scripts/prepare_extra_data.py made (its `v2` subfolder: ccp, camvid, dsb2018), adding v2/v3's extra
    images; leave_out: sources whose path contains any of these strings are dropped (e.g. "isbi2012",
    a domain kept unseen for a fine-tuning demonstration)."""
    r = data_root.rstrip("/")
    extra: tuple[ImageSource, ...] = ()
    if cache_root:
        c = cache_root.rstrip("/")
        extra = (ImageSource(f"{c}/ccp", weight=1.5), ImageSource(f"{c}/camvid", weight=0.5),
                 ImageSource(f"{c}/dsb2018", weight=0.5))
    sources = (
        ImageSource(f"{r}/coco", weight=4.0),
        ImageSource(f"{r}/coco/panoptic/panoptic_train2017.json", weight=0.5),
        ImageSource(f"{r}/davis2016", weight=3.5, frame_stride=2),
        ImageSource(f"{r}/microscopy/dsb2018_murphy_nuclei/train", weight=0.6),
        ImageSource(f"{r}/microscopy/isbi2012_em_membrane", weight=0.6),
        ImageSource(f"{r}/microscopy/sam_med2d_ct_demo/image2label_train.json", weight=0.2),
        ImageSource(f"{r}/microscopy/stardist_dsb_sample", weight=0.3, format="label_maps",
                    images=f"{r}/microscopy/stardist_dsb_sample/img2d.tif",
                    labels=f"{r}/microscopy/stardist_dsb_sample/mask2d.tif"),
    ) + extra
    return tuple(src for src in sources if not any(part in src.path for part in leave_out))


@dataclass(frozen=True)
class DistillConfig:
    """teacher: a SAM 1 checkpoint path, a preset name (random weights: tests) or None = samkit's
    built-in model. student: a SAM 2 preset. student_init: a SAM 2 checkpoint of that preset whose
    image encoder the student starts from (e.g. re-distilling towards a new teacher), else random.
    max_steps sets the cosine schedule; max_minutes stops earlier (wall clock of this process) with a
    checkpoint. split: samkit.data.splits' hash rule."""

    run_dir: str = "runs/distill"
    student: str = "sam2_cpu"
    teacher: str | None = None
    student_init: str | None = None
    sources: tuple[ImageSource, ...] = field(default_factory=lambda: default_sources("../shared/data"))
    val_fraction: float = 0.15
    split_seed: int = 0
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    max_steps: int = 2000
    max_minutes: float | None = None
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 100
    val_every: int = 200
    val_images: int = 32
    threads: int = 1
    augment: Augment = field(default_factory=Augment)


def load_teacher(teacher: str | None, seed: int = 0):
    """The SAM 1 teacher in eval mode, frozen (a preset name gives random weights drawn from `seed`)."""
    from samkit.build import build_sam, load_checkpoint, load_model

    if teacher is None:
        model = load_model(device="cpu", dtype="float32")
    elif Path(teacher).is_file():
        model = load_checkpoint(teacher)
    else:
        torch.manual_seed(seed)
        model = build_sam(teacher)
    if model.__class__.__name__ != "Sam":
        raise InputError(f"teacher {teacher!r} is not a SAM 1 model")
    model.eval().requires_grad_(False)
    return model


def build_student(student: str, seed: int, init: str | None = None):
    """A SAM 2 model of preset `student`: random weights drawn from `seed`, then, with `init`, the
    image encoder of that SAM 2 checkpoint (same preset, or the keys will not fit: InputError)."""
    from samkit.builder_sam2 import build_sam2_model

    torch.manual_seed(seed)
    model = build_sam2_model(student)
    if init:
        from samkit.build import load_checkpoint

        source = load_checkpoint(init)
        if source.__class__.__name__ != "SAM2Base":
            raise InputError(f"student_init {init!r} is not a SAM 2 checkpoint")
        try:
            model.image_encoder.load_state_dict(source.image_encoder.state_dict())
        except RuntimeError as e:
            raise InputError(f"student_init {init!r} does not fit preset {student!r}: {e}") from None
    return model


class Distiller(nn.Module):
    """Teacher and student side by side. forward(uint8 images) -> (student feature, teacher embedding)."""

    def __init__(self, teacher, student_encoder: nn.Module, image_size: int):
        super().__init__()
        self.teacher, self.student, self.image_size = teacher, student_encoder, image_size
        if teacher.image_encoder.img_size != image_size:
            raise InputError(f"teacher input {teacher.image_encoder.img_size} px != student {image_size} px")
        self.register_buffer("s_mean", torch.tensor(SAM2_MEAN_RGB).view(1, 3, 1, 1) * 255.0, False)
        self.register_buffer("s_std", torch.tensor(SAM2_STD_RGB).view(1, 3, 1, 1) * 255.0, False)

    def teacher_embedding(self, images_u8: torch.Tensor) -> torch.Tensor:
        """B x S x S x 3 uint8 -> B x C x h x w (no grad)."""
        x = images_u8.permute(0, 3, 1, 2).float()
        with torch.no_grad():
            return self.teacher.image_encoder((x - self.teacher.pixel_mean) / self.teacher.pixel_std)

    def student_feature(self, images_u8: torch.Tensor) -> torch.Tensor:
        """B x S x S x 3 uint8 -> B x C x h x w: the stride-16 vision feature the decoder sees."""
        x = images_u8.permute(0, 3, 1, 2).float()
        return self.student((x - self.s_mean) / self.s_std)["vision_features"]


def _save_state(path: Path, student: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"student": student.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, tmp)
    tmp.replace(path)  # atomic: an interrupted save leaves the previous checkpoint intact


def _val_loss(d: Distiller, views: torch.Tensor, targets: torch.Tensor, batch: int = 8) -> float:
    d.student.eval()
    with torch.no_grad():
        errs = [torch.mean((d.student_feature(views[i:i + batch]) - targets[i:i + batch]) ** 2).item()
                * len(views[i:i + batch]) for i in range(0, len(views), batch)]
    d.student.train()
    return float(sum(errs) / len(views))


def distill(cfg: DistillConfig, pool: ImagePool | None = None, val_pool: ImagePool | None = None,
            progress: bool = True) -> dict:
    """Run (or resume, from run_dir/checkpoints/latest.pt) a distillation. pool / val_pool default to
    the training / held-out images of cfg.sources. Returns {"step", "loss", "val_loss"}."""
    torch.set_num_threads(cfg.threads)
    run_dir = Path(cfg.run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2, default=str))
    if pool is None:
        pool = ImagePool.from_sources(list(cfg.sources), "train", cfg.val_fraction, cfg.split_seed)
    if val_pool is None and cfg.val_images > 0:
        val_pool = ImagePool.from_sources(list(cfg.sources), "val", cfg.val_fraction, cfg.split_seed)
    teacher = load_teacher(cfg.teacher, cfg.seed)
    student = build_student(cfg.student, cfg.seed, cfg.student_init)
    d = Distiller(teacher, student.image_encoder, student.image_size)
    params = [p for p in d.student.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    schedule = WarmupDecay(cfg.warmup_steps, cfg.max_steps)
    ckpt = run_dir / "checkpoints" / "latest.pt"
    step = 0
    if ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        d.student.load_state_dict(state["student"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        log.info("resumed %s at step %d", ckpt, step)
    metrics = MetricsFile(run_dir / "metrics.jsonl")
    val = None
    if val_pool is not None and cfg.val_images > 0:
        views = torch.from_numpy(val_views(val_pool, student.image_size, cfg.val_images))
        val = (views, torch.cat([d.teacher_embedding(views[i:i + 8]) for i in range(0, len(views), 8)]))
    d.student.train()
    start = time.monotonic()
    bar = tqdm(total=cfg.max_steps, initial=step, desc="distill", unit="step", disable=not progress,
               dynamic_ncols=True)
    loss_value, val_value = math.nan, math.nan
    if val is not None and step == 0:
        val_value = _val_loss(d, *val)
        metrics.write({"step": 0, "val_loss": val_value, "val_rel_loss": val_value / val[1].var().item()})
    while step < cfg.max_steps:
        t0 = time.monotonic()
        images = torch.from_numpy(draw_batch(pool, cfg.augment, student.image_size, cfg.batch_size,
                                             cfg.seed, step))
        target = d.teacher_embedding(images)
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * schedule(step)
        loss = torch.mean((d.student_feature(images) - target) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        step += 1
        loss_value = loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}")
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            metrics.write({"step": step, "loss": loss_value, "rel_loss": loss_value / target.var().item(),
                           "grad_norm": float(grad_norm), "lr": optimizer.param_groups[0]["lr"],
                           "step_s": time.monotonic() - t0, "elapsed_min": (time.monotonic() - start) / 60})
        if val is not None and (step % cfg.val_every == 0 or step == cfg.max_steps):
            val_value = _val_loss(d, *val)
            metrics.write({"step": step, "val_loss": val_value, "val_rel_loss": val_value / val[1].var().item()})
        out_of_time = cfg.max_minutes is not None and time.monotonic() - start > 60 * cfg.max_minutes
        if step % cfg.ckpt_every == 0 or step == cfg.max_steps or out_of_time:
            _save_state(ckpt, d.student, optimizer, step)
        if out_of_time:
            log.info("stopping at step %d: --max-minutes %s reached", step, cfg.max_minutes)
            break
    bar.close()
    save_student_encoder(d.student, run_dir / "student_encoder.safetensors", cfg.student, step)
    return {"step": step, "loss": loss_value, "val_loss": val_value}


def save_student_encoder(encoder: nn.Module, path: Path, preset: str, step: int) -> None:
    """The encoder's weights (keys as in SAM2Base.image_encoder) with the preset in the metadata."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, str(path), metadata={"preset": preset, "step": str(step), "what": "sam2 image_encoder"})


def load_student_encoder(path: str | Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def synthetic_pool(count: int, size_px: int, seed: int = 0) -> ImagePool:
    """Smooth random images (tests and smoke runs without data): blobs of colour on a gradient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size_px, 0:size_px] / size_px
    images = []
    for _ in range(count):
        img = np.zeros((size_px, size_px, 3), np.float32) + rng.uniform(0, 255, 3) * (0.5 + 0.5 * xx[..., None])
        for _ in range(3):
            cy, cx, r = rng.uniform(0, 1, 3) * (1, 1, 0.3)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = rng.uniform(0, 255, 3)
        images.append(img.astype(np.uint8))
    return ImagePool(["synthetic"], [images], [1.0])
