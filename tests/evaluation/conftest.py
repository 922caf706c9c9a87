"""Hand-made datasets (written to tmp dirs) and predictors with known behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def scene_masks(hw=(120, 160)):
    """Three objects with known geometry: a 40x60 rectangle, a disc of radius 20, a 6x6 square."""
    H, W = hw
    rect = np.zeros(hw, bool)
    rect[20:60, 20:80] = True
    yy, xx = np.mgrid[:H, :W]
    disc = (yy - 80) ** 2 + (xx - 120) ** 2 <= 20**2
    small = np.zeros(hw, bool)
    small[100:106, 10:16] = True
    return [rect, disc, small]


def scene_image(masks, seed=0):
    """Textured background with each object a flat, distinct colour (GrabCut can separate them)."""
    rng = np.random.default_rng(seed)
    H, W = masks[0].shape
    img = (rng.random((H, W, 3)) * 50 + 90).astype(np.uint8)
    for m, colour in zip(masks, [(230, 30, 30), (30, 40, 220), (240, 240, 20)]):
        img[m] = colour
    return img


class OraclePredictor:
    """The perfect predictor: returns the GT object under the first positive click, or the GT object
    whose box best overlaps the given box. Masks are known per image (matched by image bytes)."""

    def __init__(self, masks_by_image: dict[bytes, list[np.ndarray]]):
        self.masks_by_image = masks_by_image
        self.masks = None
        self.calls = []

    def set_image(self, image, image_format="RGB"):
        self.masks = self.masks_by_image[np.ascontiguousarray(image).tobytes()]

    def _logits(self, m):
        return np.where(m, 5.0, -5.0).astype(np.float32)[None]

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None,
                multimask_output=True, return_logits=False):
        self.calls.append({"points": point_coords, "labels": point_labels, "box": box, "mask_input": mask_input})
        if point_coords is not None:
            x, y = np.round(point_coords[0]).astype(int)
            hits = [m for m in self.masks if m[y, x]]
            m = hits[0] if hits else np.zeros_like(self.masks[0])
        else:
            x0, y0, x1, y1 = np.asarray(box).astype(int)
            inside = [m[y0:y1, x0:x1].sum() / max(m.sum(), 1) for m in self.masks]
            m = self.masks[int(np.argmax(inside))]
        return m[None], np.ones(1, np.float32), self._logits(m)


class EmptyPredictor:
    """Always predicts nothing (and says so with a high score)."""

    def __init__(self, hw):
        self.hw = hw

    def set_image(self, image, image_format="RGB"):
        self.hw = image.shape[:2]

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None,
                multimask_output=True, return_logits=False):
        c = 3 if multimask_output else 1
        return (np.zeros((c, *self.hw), bool), np.full(c, 0.9, np.float32),
                np.full((c, 16, 16), -10.0, np.float32))


def write_tiny_coco(root: Path, n_images: int = 3) -> Path:
    """root/images/val/*.png + root/annotations/instances_val.json: polygons, an RLE, a crowd."""
    from pycocotools import mask as mask_utils

    (root / "images" / "val").mkdir(parents=True)
    (root / "annotations").mkdir(parents=True)
    data = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "thing"}]}
    for i in range(n_images):
        masks = scene_masks()
        img = scene_image(masks, seed=i)
        name = f"img{i:03d}.png"
        Image.fromarray(img).save(root / "images" / "val" / name)
        H, W = masks[0].shape
        data["images"].append({"id": i + 1, "file_name": name, "height": H, "width": W})
        rect, disc, small = masks
        # Rectangle as a polygon (pixel-corner coordinates), the disc as a compressed RLE.
        poly = [20.0, 20.0, 80.0, 20.0, 80.0, 60.0, 20.0, 60.0]
        rle = mask_utils.encode(np.asfortranarray(disc.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        crowd = mask_utils.encode(np.asfortranarray(small.astype(np.uint8)))
        crowd["counts"] = crowd["counts"].decode("ascii")
        for seg, area, iscrowd, bbox in [(([poly]), 2400.0, 0, [20, 20, 60, 40]),
                                         (rle, float(disc.sum()), 0, [100, 60, 41, 41]),
                                         (crowd, 36.0, 1, [10, 100, 6, 6])]:
            data["annotations"].append({"id": len(data["annotations"]) + 1, "image_id": i + 1, "category_id": 1,
                                        "segmentation": seg, "area": area, "iscrowd": iscrowd, "bbox": bbox})
    path = root / "annotations" / "instances_val.json"
    path.write_text(json.dumps(data))
    return path


def write_tiny_davis(root: Path, n_frames: int = 4) -> Path:
    """root/JPEGImages/480p/<seq>/NNNNN.jpg + Annotations (0/255 PNG): a square moving right."""
    for seq, step in (("slide", 6), ("still", 0)):
        jd = root / "JPEGImages" / "480p" / seq
        ad = root / "Annotations" / "480p" / seq
        jd.mkdir(parents=True)
        ad.mkdir(parents=True)
        for t in range(n_frames):
            m = np.zeros((96, 128), bool)
            m[30:70, 20 + step * t:60 + step * t] = True
            Image.fromarray(scene_image([m, np.zeros_like(m), np.zeros_like(m)], seed=t)).save(jd / f"{t:05d}.jpg",
                                                                                                quality=95)
            Image.fromarray((m * 255).astype(np.uint8)).save(ad / f"{t:05d}.png")
    return root


@pytest.fixture()
def tiny_coco(tmp_path) -> Path:
    return write_tiny_coco(tmp_path / "coco")


@pytest.fixture()
def tiny_davis(tmp_path) -> Path:
    return write_tiny_davis(tmp_path / "davis")


@pytest.fixture()
def helpers():
    """The helpers above, for tests (conftest modules are not importable under importlib mode)."""
    import types

    return types.SimpleNamespace(scene_masks=scene_masks, scene_image=scene_image, OraclePredictor=OraclePredictor,
                                 EmptyPredictor=EmptyPredictor, write_tiny_coco=write_tiny_coco,
                                 write_tiny_davis=write_tiny_davis)
