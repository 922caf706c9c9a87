"""Hand-made datasets on disk: tiny images whose masks are known exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils


def write_rgb(path: Path, h: int, w: int, seed: int = 0) -> np.ndarray:
    img = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(path)
    return img


def rle_string(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode()}


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    """2 images (40x60, 30x50). Image 1: a polygon square, an uncompressed-RLE blob, a crowd RLE, and
    four malformed annotations. Image 2: only a compressed RLE."""
    images = tmp_path / "images"
    images.mkdir()
    write_rgb(images / "a.png", 40, 60, 1)
    write_rgb(images / "b.png", 30, 50, 2)
    blob = np.zeros((40, 60), bool)
    blob[5:15, 30:50] = True
    uncompressed = {"size": [40, 60], "counts": []}
    flat = blob.flatten(order="F")
    run, val = 0, False
    for v in flat:
        if v == val:
            run += 1
        else:
            uncompressed["counts"].append(run)
            run, val = 1, v
    uncompressed["counts"].append(run)
    small = np.zeros((30, 50), bool)
    small[10:20, 10:30] = True
    anns = [
        {"id": 11, "image_id": 1, "iscrowd": 0, "segmentation": [[10, 10, 20, 10, 20, 20, 10, 20]]},
        {"id": 12, "image_id": 1, "iscrowd": 0, "segmentation": uncompressed},
        {"id": 13, "image_id": 1, "iscrowd": 1, "segmentation": rle_string(blob)},
        {"id": 14, "image_id": 1, "iscrowd": 0, "segmentation": [[1, 2, 3]]},
        {"id": 15, "image_id": 1, "iscrowd": 0, "segmentation": rle_string(small)},  # 30x50 RLE on a 40x60 image
        {"id": 16, "image_id": 99, "iscrowd": 0, "segmentation": [[0, 0, 5, 0, 5, 5]]},
        {"id": 17, "image_id": 1, "iscrowd": 0, "segmentation": []},
        {"id": 21, "image_id": 2, "iscrowd": 0, "segmentation": rle_string(small)},
    ]
    data = {"images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 60},
                       {"id": 2, "file_name": "b.png", "height": 30, "width": 50}],
            "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}
    ann_dir = tmp_path / "annotations"
    ann_dir.mkdir()
    (ann_dir / "instances_mini.json").write_text(json.dumps(data))
    (images / "mini").mkdir()
    return tmp_path


@pytest.fixture
def label_map_dir(tmp_path: Path) -> Path:
    """images/{0,1}.png + labels/{0.png (uint16 instances 1,2,300), 1.tif (binary, 2 blobs)}."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    write_rgb(tmp_path / "images" / "0.png", 32, 48, 3)
    write_rgb(tmp_path / "images" / "1.png", 32, 48, 4)
    write_rgb(tmp_path / "images" / "2.png", 32, 48, 5)  # no label map: reported
    lab = np.zeros((32, 48), np.uint16)
    lab[2:10, 2:10] = 1
    lab[12:20, 20:40] = 2
    lab[25:30, 5:15] = 300
    Image.fromarray(lab).save(tmp_path / "labels" / "0.png")
    binary = np.zeros((32, 48), np.uint8)
    binary[1:6, 1:6] = 255
    binary[20:30, 30:45] = 255
    Image.fromarray(binary).save(tmp_path / "labels" / "1.tif")
    return tmp_path


@pytest.fixture
def helpers():
    """The on-disk helpers for tests that build their own layouts."""
    class H:
        write_rgb = staticmethod(write_rgb)
        rle_string = staticmethod(rle_string)
    return H
