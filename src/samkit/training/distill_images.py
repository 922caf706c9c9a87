"""Images for encoder distillation: a weighted pool of decoded training images and the augmentation
that turns one into the square input both the teacher and the student see.

The pool holds every training-side image of each source (the hash split of samkit.data.splits, so
held-out evaluation images are never distilled on) decoded once, as uint8, its longest side capped
so a ~1000-image pool fits in about a gigabyte. Draws are a pure function of (seed, step, slot):
a resumed run sees exactly the images and crops of an uninterrupted one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from samkit.errors import InputError

log = logging.getLogger("samkit.training")

MAX_SIDE_PX = 640  # longest side kept in the pool; crops are resized to <= 1024 px anyway


@dataclass(frozen=True)
class ImageSource:
    """One source of the pool. path: anything samkit.data.specs.build_dataset reads (masks are
    ignored); weight: its share of the draws; frame_stride: DAVIS frames kept (every n-th)."""

    path: str
    weight: float = 1.0
    frame_stride: int = 1
    format: str = "auto"
    images: str = ""
    labels: str = ""


def _cap(rgb: np.ndarray, max_side_px: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = max_side_px / max(h, w)
    if scale >= 1.0:
        return np.ascontiguousarray(rgb)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))


class ImagePool:
    """Decoded images in named groups with draw weights: groups[i] is a list of H x W x 3 uint8."""

    def __init__(self, names: list[str], groups: list[list[np.ndarray]], weights: list[float]):
        if not (len(names) == len(groups) == len(weights)) or not names:
            raise InputError("an image pool needs one name and one weight per non-empty group")
        keep = [i for i, g in enumerate(groups) if g and weights[i] > 0]
        if not keep:
            raise InputError(f"no images to distil on (sources: {names})")
        self.names = [names[i] for i in keep]
        self.groups = [groups[i] for i in keep]
        w = np.array([weights[i] for i in keep], dtype=np.float64)
        self.probs = w / w.sum()

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        g = int(rng.choice(len(self.groups), p=self.probs))
        return self.groups[g][int(rng.integers(len(self.groups[g])))]

    @staticmethod
    def from_sources(sources: list[ImageSource], side: str, val_fraction: float, split_seed: int,
                     max_side_px: int = MAX_SIDE_PX) -> "ImagePool":
        """Decode the `side` ("train" or "val") images of every source; an image shared by two
        sources (COCO instances and panoptic) is decoded once and kept in the first."""
        from samkit.data.specs import DatasetSpec, build_dataset
        from samkit.image_io import load_image

        seen: set[str] = set()
        names, groups, weights = [], [], []
        for src in sources:
            spec = DatasetSpec(path=src.path, format=src.format, images=src.images, labels=src.labels,
                               weight=src.weight, frame_stride=src.frame_stride)
            dataset = build_dataset(spec)
            train, val = dataset.split(val_fraction, split_seed)
            part = train if side == "train" else val
            images = []
            for i, record in enumerate(part.records):
                key = str(record["key"])
                if key in seen:
                    continue
                seen.add(key)
                # Plain files are read directly (no mask decoding); others (a frame of a TIFF stack)
                # through the dataset.
                rgb = load_image(key) if Path(key).is_file() else part[i].image_rgb
                images.append(_cap(rgb, max_side_px))
            log.info("distillation pool: %s: %d %s images", src.path, len(images), side)
            names.append(src.path)
            groups.append(images)
            weights.append(src.weight)
        return ImagePool(names, groups, weights)


@dataclass(frozen=True)
class Augment:
    """Square views of an image. With probability full_prob the whole image squashed to a square (what
    SAM 2 does at inference), else a random crop of `area` x the image with aspect (w/h) log-uniform in
    `ratio`, also squashed; then a horizontal flip, colour jitter and, sometimes, grey."""

    full_prob: float = 0.35
    area: tuple[float, float] = (0.25, 1.0)
    ratio: tuple[float, float] = (0.5, 2.0)
    hflip_prob: float = 0.5
    jitter_prob: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    gray_prob: float = 0.1

    def __call__(self, rgb: np.ndarray, size_px: int, rng: np.random.Generator) -> np.ndarray:
        """H x W x 3 uint8 -> size_px x size_px x 3 uint8."""
        h, w = rgb.shape[:2]
        crop = rgb
        if rng.random() >= self.full_prob:
            target = h * w * rng.uniform(*self.area)
            aspect = float(np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1]))))
            cw = int(min(w, max(8, round((target * aspect) ** 0.5))))
            ch = int(min(h, max(8, round((target / aspect) ** 0.5))))
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = rgb[y0:y0 + ch, x0:x0 + cw]
        out = np.asarray(Image.fromarray(crop).resize((size_px, size_px), Image.BILINEAR), dtype=np.float32)
        if rng.random() < self.hflip_prob:
            out = out[:, ::-1]
        if rng.random() < self.jitter_prob:
            out = out * rng.uniform(1 - self.brightness, 1 + self.brightness)
            mean = out.mean()
            out = (out - mean) * rng.uniform(1 - self.contrast, 1 + self.contrast) + mean
            gray = out.mean(axis=2, keepdims=True)
            out = (out - gray) * rng.uniform(1 - self.saturation, 1 + self.saturation) + gray
        if rng.random() < self.gray_prob:
            out = np.repeat(out.mean(axis=2, keepdims=True), 3, axis=2)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_batch(pool: ImagePool, augment: Augment, size_px: int, batch_size: int, seed: int,
               step: int) -> np.ndarray:
    """The batch of step `step`: B x S x S x 3 uint8, a pure function of (seed, step)."""
    out = np.empty((batch_size, size_px, size_px, 3), np.uint8)
    for slot in range(batch_size):
        rng = np.random.default_rng([seed, step, slot])
        out[slot] = augment(pool.draw(rng), size_px, rng)
    return out


def val_views(pool: ImagePool, size_px: int, count: int) -> np.ndarray:
    """Up to `count` fixed views (whole images squashed to squares), spread over the pool's groups."""
    views = []
    per_group = max(1, count // len(pool.groups))
    for group in pool.groups:
        idx = np.linspace(0, len(group) - 1, min(per_group, len(group))).round().astype(int)
        for i in dict.fromkeys(idx.tolist()):
            views.append(np.asarray(Image.fromarray(group[i]).resize((size_px, size_px), Image.BILINEAR)))
    return np.stack(views[:count])
