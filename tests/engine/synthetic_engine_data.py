"""Synthetic images with synthetic GT (flat shapes on noise) and a tiny random-weight checkpoint,
so the engine's tests run anywhere (no ../shared/data, no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

# A grid small enough for CI and thresholds at 0: random weights give low predicted IoUs.
FAST_AMG = {"points_per_side": 4, "crop_n_layers": 0, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0,
            "min_mask_region_area": 0}


def shapes_image(seed: int, hw: tuple[int, int] = (96, 128)) -> tuple[np.ndarray, list[np.ndarray]]:
    """(H x W x 3 uint8 image, [H x W bool object masks]): 2-3 rectangles / discs in flat colours."""
    rng = np.random.default_rng(seed)
    h, w = hw
    img = (rng.random((h, w, 3)) * 30 + 100).astype(np.uint8)
    masks = []
    yy, xx = np.mgrid[:h, :w]
    for k in range(int(rng.integers(2, 4))):
        if k % 2 == 0:
            y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
            m = (yy >= y0) & (yy < y0 + int(rng.integers(20, h // 2))) & (xx >= x0) & (xx < x0 + int(rng.integers(20, w // 2)))
        else:
            cy, cx, r = int(rng.integers(20, h - 20)), int(rng.integers(20, w - 20)), int(rng.integers(10, 22))
            m = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        for prev in masks:  # later shapes sit on top
            prev &= ~m
        masks.append(m)
        img[m] = rng.integers(0, 255, size=3)
    return img, [m for m in masks if m.sum() >= 64]


def write_dataset(folder: Path, n: int, seed: int = 0, bad: int = 0) -> Path:
    """n PNGs in folder/images + folder/gt.json (COCO instances, RLE); `bad` undecodable files too."""
    from samkit.automatic.rle import encode_coco_rle

    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    doc = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "shape"}]}
    for i in range(n):
        img, masks = shapes_image(seed * 1000 + i)
        name = f"img_{i:03d}.png"
        Image.fromarray(img).save(images_dir / name)
        doc["images"].append({"id": i + 1, "file_name": name, "height": img.shape[0], "width": img.shape[1]})
        for m in masks:
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": i + 1, "category_id": 1,
                                       "segmentation": encode_coco_rle(m), "area": int(m.sum()), "iscrowd": 0,
                                       "bbox": [0, 0, 1, 1]})
    for j in range(bad):
        (images_dir / f"broken_{j}.jpg").write_bytes(b"not a jpeg at all")
    (folder / "gt.json").write_text(json.dumps(doc))
    return folder / "gt.json"


def tiny_checkpoint(path: Path) -> Path:
    """A tiny-preset SAM with seeded random weights, saved as a samkit .safetensors that recommends
    AMG thresholds (as the built-in model's file does)."""
    import torch

    from samkit.build import AMG_DEFAULTS_KEY, build_sam, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(build_sam("tiny"), path,
                    metadata={AMG_DEFAULTS_KEY: json.dumps({"pred_iou_thresh": 0.0, "stability_score_thresh": 0.5})})
    return path
