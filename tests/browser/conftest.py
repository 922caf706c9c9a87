"""Fixtures for the real-browser tests: a folder with an image, `samkit serve`'s app on a free port,
and helpers that compute in Python what the page should show (onnxruntime on the same decoder file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser.harness import missing_requirements, serve_app



@pytest.fixture(scope="session")
def browser_ready() -> None:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)


def write_shapes_image(path: Path, hw: tuple[int, int] = (300, 400)) -> Path:
    """A photo-like test image: noise background with a red rectangle, a green one and a blue disc."""
    h, w = hw
    rng = np.random.default_rng(0)
    img = (rng.random((h, w, 3)) * 40 + 100).astype(np.uint8)
    img[h // 6 : h // 2, w // 7 : w // 2] = (220, 40, 40)
    img[3 * h // 5 : 14 * h // 15, 5 * w // 8 : 19 * w // 20] = (40, 200, 60)
    yy, xx = np.mgrid[:h, :w]
    img[(yy - 0.73 * h) ** 2 + (xx - 0.25 * w) ** 2 < (0.15 * h) ** 2] = (30, 60, 230)
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(scope="module")
def tiny_server(browser_ready, tmp_path_factory) -> dict:
    """`samkit serve` on a folder with one 300x400 image, tiny preset with random weights."""
    import torch

    from samkit.build import build_sam
    from samkit.serve.app import create_app

    folder = tmp_path_factory.mktemp("annotate")
    write_shapes_image(folder / "shapes.png")
    torch.manual_seed(0)
    model = build_sam("tiny")
    with serve_app(create_app(folder, model)) as url:
        yield {"url": url, "folder": folder, "model": model}


class ReferenceDecoder:
    """The server's ONNX decoder run natively (onnxruntime) on the server's float16 embedding:
    what the page must reproduce."""

    def __init__(self, base_url: str, image_id: str) -> None:
        import httpx
        import onnxruntime as ort

        with httpx.Client(base_url=base_url, timeout=120) as client:
            model = client.get("/api/model").json()
            onnx_bytes = client.get(model["decoder_url"]).content
            r = client.get(f"/api/images/{image_id}/embedding")
            r.raise_for_status()
            shape = [int(s) for s in r.headers["X-Embedding-Shape"].split(",")]
            self.embedding = np.frombuffer(r.content, dtype="<f2").astype(np.float32).reshape(shape)
            record = client.get(f"/api/images/{image_id}/annotations").json()["image"]
        self.img_size = model["img_size"]
        self.orig_hw = (record["height"], record["width"])
        self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])

    def feeds(self, points_xy: list[tuple[float, float]], labels: list[int]) -> dict[str, np.ndarray]:
        """Decoder inputs for points in image px, as the page builds them (padding point appended)."""
        h, w = self.orig_hw
        scale = self.img_size / max(h, w)
        coords = np.array([[*points_xy, (0.0, 0.0)]], np.float32) * scale
        return {
            "image_embeddings": self.embedding,
            "point_coords": coords,
            "point_labels": np.array([[*labels, -1]], np.float32),
            "mask_input": np.zeros((1, 1, *[4 * s for s in self.embedding.shape[2:]]), np.float32),
            "has_mask_input": np.zeros(1, np.float32),
            "orig_im_size": np.array([h, w], np.float32),
        }

    def masks(self, points_xy: list[tuple[float, float]], labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Binary masks (4 x H x W) at original size and IoU predictions (4) for points in image px."""
        masks, iou = self.session.run(["masks", "iou_predictions"], self.feeds(points_xy, labels))
        return masks[0] > 0.0, iou[0]

    def best_single_click(self, point_xy: tuple[float, float]) -> tuple[np.ndarray, int, float]:
        """The mask the page shows for a single click: the best-IoU one of masks 1..3."""
        masks, iou = self.masks([point_xy], [1])
        k = 1 + int(np.argmax(iou[1:]))
        return masks[k], k, float(iou[k])
