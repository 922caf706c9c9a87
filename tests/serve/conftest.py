"""Fixtures for the server tests: a tiny model, a folder of small images, an app factory."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Every test here runs single-threaded (see tests/conftest.py); tiny_model comes from there."""
    yield


def write_images(folder: Path) -> dict[str, Path]:
    """A 120x160 PNG, a 90x200 JPEG stored sideways with EXIF orientation 6, and a non-image file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    png = folder / "plain.png"
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(png)
    jpg = folder / "sub" / "rotated.jpg"
    jpg.parent.mkdir()
    stored = Image.fromarray((rng.random((200, 90, 3)) * 255).astype(np.uint8))  # stored 90 wide, 200 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 cw on display: shown 200 wide x 90 high
    stored.save(jpg, exif=exif.tobytes())
    (folder / "notes.txt").write_text("not an image")
    return {"png": png, "jpg": jpg}


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    write_images(folder)
    return folder


@pytest.fixture
def make_client(tiny_model, tmp_path):
    """make_client(folder, model=tiny_model, **create_app_kwargs) -> a started TestClient (closed at
    teardown); the decoder export is not started unless asked for."""
    from fastapi.testclient import TestClient

    from samkit.serve import create_app

    clients = []
    static = tmp_path / "static"
    static.mkdir(exist_ok=True)
    (static / "index.html").write_text("<!doctype html><title>samkit test page</title>")

    def make(folder: Path, model=None, **kwargs) -> TestClient:
        kwargs.setdefault("static_dir", static)
        kwargs.setdefault("export_decoder_on_start", False)
        client = TestClient(create_app(folder, tiny_model if model is None else model, **kwargs))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def wait_ready():
    return _wait_ready


def _wait_ready(client, image_id: str, timeout: float = 120.0) -> list[dict]:
    """Poll the encoding status until ready; return every status seen."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = client.get(f"/api/images/{image_id}/embedding/status").json()
        seen.append(st)
        if st["state"] in ("ready", "error"):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"encoding did not finish in {timeout} s: {seen[-3:]}")
