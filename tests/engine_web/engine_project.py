"""An engine project for the browser-mode tests: a few synthetic images, a tiny random-weight model
saved as a samkit checkpoint (the project's starting model), and helpers to add proposals, automatic
masks and a retrained round the way `samkit engine` stages do (through the same store API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_utils

IMAGE_HW = (192, 256)


def rect_mask(hw: tuple[int, int] = IMAGE_HW) -> np.ndarray:
    h, w = hw
    return box_mask(h // 6, h // 2, w // 7, w // 2, hw)


def disc_mask(hw: tuple[int, int] = IMAGE_HW) -> np.ndarray:
    h, w = hw
    yy, xx = np.mgrid[:h, :w]
    return (yy - 0.7 * h) ** 2 + (xx - 0.7 * w) ** 2 < (0.18 * h) ** 2


def shapes_image(seed: int, hw: tuple[int, int] = IMAGE_HW) -> np.ndarray:
    """Noise background with a red rectangle and a blue disc."""
    h, w = hw
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w, 3)) * 40 + 100).astype(np.uint8)
    img[rect_mask(hw)] = (220, 40, 40)
    img[disc_mask(hw)] = (30, 60, 230)
    return img


def save_tiny_model(path: Path, seed: int) -> Path:
    from samkit.build import build_sam, save_checkpoint

    torch.manual_seed(seed)
    save_checkpoint(build_sam("tiny").eval(), path)
    return path


def make_project(root: Path, n_images: int = 3):
    """An engine project in root/project over root/images; the starting model is a tiny preset."""
    from samkit.engine.project import init_project

    images = root / "images"
    images.mkdir(parents=True)
    for i in range(n_images):
        Image.fromarray(shapes_image(i)).save(images / f"img_{i}.png")
    model = save_tiny_model(root / "tiny_round0.safetensors", seed=0)
    return init_project(root / "project", images, model=str(model))


def rle_of(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def box_mask(y0: int, y1: int, x0: int, x1: int, hw: tuple[int, int] = IMAGE_HW) -> np.ndarray:
    m = np.zeros(hw, bool)
    m[y0:y1, x0:x1] = True
    return m


def add_proposals(project, image_id: int) -> list:
    """Two model proposals (as stage 2's prefill stores them): a box half off the rectangle (wrong),
    and the disc (right). The rest of the image stays unlabeled."""
    store = project.store
    h, w = IMAGE_HW
    return [store.add_mask(image_id, rle_of(box_mask(h // 10, h // 3, w // 10, w // 3)), stage=2, round=0,
                           source="model:0", state="proposed", predicted_iou=0.89, stability=0.95),
            store.add_mask(image_id, rle_of(disc_mask()), stage=2, round=0, source="model:0",
                           state="proposed", predicted_iou=0.97, stability=0.98)]


def add_automatic_masks(project, n: int = 6) -> list:
    """Stage-3 masks on the last image, as `samkit engine auto` writes them: the rectangle, the
    disc, then boxes that are not objects."""
    image_id = project.store.images()[-1].id
    masks = [rect_mask(), disc_mask()] + [box_mask(5 + 10 * i, 40 + 10 * i, 10 + 8 * i, 70 + 8 * i) for i in range(n)]
    return [project.store.add_mask(image_id, rle_of(m), stage=3, round=0, source="model:0", state="accepted",
                                   predicted_iou=0.9, stability=0.95) for m in masks[:n]]


def adopt_round(project, round_k: int, seed: int, new_decoder: bool = False) -> Path:
    """A 'retrained' model of round k, adopted as `samkit engine retrain` does: another random image
    encoder (so embeddings change); the prompt encoder and mask decoder too when new_decoder (the
    browser tests keep them: an unchanged decoder is not exported to ONNX again, which takes long)."""
    from samkit.build import build_sam, save_checkpoint

    d = project.round_dir(round_k)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "model.safetensors"
    torch.manual_seed(seed)
    model = build_sam("tiny").eval()
    if not new_decoder:
        old = project.load_model()
        model.prompt_encoder.load_state_dict(old.prompt_encoder.state_dict())
        model.mask_decoder.load_state_dict(old.mask_decoder.state_dict())
    save_checkpoint(model, path)
    project.store.add_model(round_k, str(path), {"miou_1click": 0.1}, adopted=True)
    return path
