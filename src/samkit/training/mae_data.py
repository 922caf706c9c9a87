"""Images for MAE pre-training: MAE's random-resized-crop + flip to an unpadded square.

Any training source works (masks are ignored), so pre-training sees exactly the images the SAM
stage will. Items are (index, seed) pairs from `StreamBatchSampler`, so a resumed run sees the
same crops as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from samkit.data.loading import read_skipping_bad



def random_resized_crop(image_rgb: np.ndarray, size_px: int, rng: np.random.Generator,
                        area: tuple[float, float] = (0.35, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
                        hflip_prob: float = 0.5) -> np.ndarray:
    """H x W x 3 uint8 -> size_px x size_px x 3 uint8: a crop of `area` x the image area with aspect
    in `ratio` (log-uniform), resized bicubically. MAE uses area (0.2, 1); small images and small
    models learn more from larger crops, hence 0.35."""
    h, w = image_rgb.shape[:2]
    for _ in range(10):
        target = h * w * rng.uniform(*area)
        aspect = float(np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]))))
        cw, ch = int(round((target * aspect) ** 0.5)), int(round((target / aspect) ** 0.5))
        if 0 < cw <= w and 0 < ch <= h:
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            break
    else:
        return center_square_crop(image_rgb, size_px)
    crop = Image.fromarray(image_rgb[y0:y0 + ch, x0:x0 + cw]).resize((size_px, size_px), Image.BICUBIC)
    out = np.asarray(crop)
    return out[:, ::-1].copy() if rng.random() < hflip_prob else out


def center_square_crop(image_rgb: np.ndarray, size_px: int) -> np.ndarray:
    """H x W x 3 -> size_px x size_px x 3: the largest central square, resized."""
    h, w = image_rgb.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image_rgb[y0:y0 + side, x0:x0 + side]).resize((size_px, size_px), Image.BICUBIC)
    return np.asarray(crop)


class MaeImageDataset(Dataset):
    """Wraps a dataset of InstanceSample: item (index, seed) -> {"image": 3 x S x S normalised, "key"}.
    augment=False gives the central square (validation pictures)."""

    def __init__(self, base, img_size: int, pixel_mean, pixel_std, augment: bool = True, max_tries: int = 8):
        self.base, self.img_size, self.augment, self.max_tries = base, img_size, augment, max_tries
        self.mean = torch.tensor(pixel_mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(pixel_std, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, item) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, item)
        rng = np.random.default_rng(seed)
        sample = read_skipping_bad(self.base, index, self.max_tries)
        rgb = (random_resized_crop(sample.image_rgb, self.img_size, rng) if self.augment
               else center_square_crop(sample.image_rgb, self.img_size))
        image = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float()  # a writable copy
        return {"image": (image - self.mean) / self.std, "key": sample.key}


@dataclass
class MaeBatch:
    """images: B x 3 x S x S normalised square crops; keys: their image names."""

    images: torch.Tensor
    keys: list[str]

    def step_args(self, seed: int) -> tuple:
        """Arguments of MaskedAutoencoder.forward for this micro-batch."""
        return self.images, seed

    def to(self, device) -> "MaeBatch":
        return MaeBatch(self.images.to(device), self.keys)


def collate_images(items: list[dict]) -> MaeBatch:
    return MaeBatch(torch.stack([it["image"] for it in items]), [it["key"] for it in items])
