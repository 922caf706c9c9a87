"""Shared fixtures: tiny presets with random weights, a real photo when ../shared/data is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__import__("os").environ.get("SAMKIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
COCO_IMAGES = SHARED_DATA / "coco" / "images" / "train2017"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"development data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def coco_photo_path(shared_data: Path) -> Path:
    path = COCO_IMAGES / "000000000009.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def synthetic_image() -> np.ndarray:
    """A 300 x 400 RGB uint8 image with a few flat shapes (always available)."""
    rng = np.random.default_rng(0)
    img = (rng.random((300, 400, 3)) * 40 + 100).astype(np.uint8)
    img[50:150, 60:200] = (220, 40, 40)
    img[180:280, 250:380] = (40, 200, 60)
    yy, xx = np.mgrid[:300, :400]
    img[(yy - 220) ** 2 + (xx - 100) ** 2 < 45**2] = (30, 60, 230)
    return img


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny-model tensors are too small to split across threads: on the shared 2-core CI machine
    several threads per op spin against each other and run several times slower than one.
    torch's setting is process-wide, so it is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_model(one_torch_thread):
    """A tiny-preset Sam with seeded random weights, one per test module."""
    from samkit.build import build_sam

    torch.manual_seed(0)
    return build_sam("tiny").eval()
