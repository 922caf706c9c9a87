"""Run `samkit serve`'s app in a thread and drive the annotator page in Debian's Chromium (Playwright).

Shared by the browser tests and benchmarks/browser_decode.py. Nothing here downloads a browser:
Playwright only talks to the Chromium binary the system has (CI installs it with apt).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SAMKIT_CHROMIUM", "/usr/bin/chromium"))
BUNDLE_INDEX = REPO_ROOT / "src" / "samkit" / "serve" / "static" / "index.html"
# Headless, no sandbox (root in CI containers), and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# The mask colour the page paints the current mask with (render.ts CURRENT_MASK_RGB).
CURRENT_MASK_RGB = (30, 144, 255)


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.is_file():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install playwright)"
    if not BUNDLE_INDEX.is_file():
        return f"web bundle not built ({BUNDLE_INDEX} missing: npm --prefix web ci && npm --prefix web run build)"
    try:
        import samkit.serve.app  # noqa: F401
    except ImportError as e:
        return f"samkit.serve is not available: {e}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1:<free port> in a thread; yields the base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="samkit-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the samkit server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def chromium_page(viewport: tuple[int, int] = (1400, 850)) -> Iterator[Any]:
    """A fresh Chromium page; console errors and uncaught page errors are collected on page.errors."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
            page = context.new_page()
            page.errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
            page.on("console", lambda m: m.type == "error" and page.errors.append(f"console: {m.text}"))
            yield page
        finally:
            browser.close()


def open_app(page: Any, base_url: str, timeout_s: float = 120) -> None:
    """Load the page and wait until the decoder is loaded and the image list is shown."""
    page.goto(base_url)
    page.wait_for_function(
        "document.body.dataset.app === 'ready' || document.body.dataset.app === 'error'", timeout=timeout_s * 1000
    )
    if page.evaluate("document.body.dataset.app") == "error":
        raise AssertionError(f"the page failed to start: {page.inner_text('#status')}")


def open_image(page: Any, image_id: str, timeout_s: float = 300) -> None:
    """Click the image in the list and wait for its embedding (server encode + download)."""
    page.click(f"li.image[data-image-id='{image_id}']")
    page.wait_for_function(
        "(id) => document.body.dataset.imageId === id && ['ready', 'error'].includes(document.body.dataset.embedding)",
        arg=image_id,
        timeout=timeout_s * 1000,
    )
    if page.evaluate("document.body.dataset.embedding") != "ready":
        raise AssertionError(f"opening {image_id} failed: {page.inner_text('#status')}")


def image_to_page(page: Any, x: float, y: float, orig_hw: tuple[int, int]) -> tuple[float, float]:
    """Image-frame pixel -> page coordinates over the overlay canvas (for mouse events)."""
    box = page.locator("#overlay-canvas").bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / orig_hw[1], box["y"] + (y + 0.5) * box["height"] / orig_hw[0]


def decode_count(page: Any, kind: str) -> int:
    return page.evaluate("(k) => window.__samkitStats.decodes.filter(d => d.kind === k).length", kind)


def wait_decodes(page: Any, kind: str, count: int, timeout_s: float = 60) -> None:
    page.wait_for_function(
        "([k, n]) => window.__samkitStats.decodes.filter(d => d.kind === k).length >= n",
        arg=[kind, count],
        timeout=timeout_s * 1000,
    )


def overlay_pixels(page: Any, rgb: tuple[int, int, int], tol: int = 40) -> int:
    """Count overlay-canvas pixels painted in colour `rgb` (any alpha > 0)."""
    return page.evaluate(
        """([rgb, tol]) => {
            const c = document.getElementById('overlay-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
              if (d[i + 3] > 0 && Math.abs(d[i] - rgb[0]) <= tol && Math.abs(d[i + 1] - rgb[1]) <= tol
                  && Math.abs(d[i + 2] - rgb[2]) <= tol) n++;
            }
            return n;
        }""",
        [list(rgb), tol],
    )


def click_latencies(page: Any, points_xy: list[tuple[float, float]], orig_hw: tuple[int, int]) -> list[float]:
    """Click each point (clearing the prompt in between) and return the page's decode ms per click."""
    before = decode_count(page, "click")
    for i, (x, y) in enumerate(points_xy):
        page.mouse.click(*image_to_page(page, x, y, orig_hw))
        wait_decodes(page, "click", before + i + 1)
        page.keyboard.press("Escape")
    samples = page.evaluate("window.__samkitStats.decodes.filter(d => d.kind === 'click').map(d => d.ms)")
    return samples[before:]


def vit_b_decoder_config():
    """SAM's real prompt encoder + mask decoder (256-dim, 64x64 embedding, as vit_b/l/h share) behind a
    one-block encoder: decode latency is the decoder's, while encoding an image stays cheap on CPU."""
    import dataclasses

    from samkit.config import ViTEncoderConfig, get_preset

    return dataclasses.replace(
        get_preset("vit_b"),
        name="vit_b_decoder",
        encoder=ViTEncoderConfig(embed_dim=64, depth=1, num_heads=2, global_attn_indexes=()),
    )


def random_clicks(orig_hw: tuple[int, int], n: int, seed: int = 0) -> list[tuple[float, float]]:
    """n click positions (image px), uniform over the image away from the border."""
    import numpy as np

    rng = np.random.default_rng(seed)
    h, w = orig_hw
    return [(float(x), float(y)) for x, y in zip(rng.uniform(0.05 * w, 0.95 * w, n), rng.uniform(0.05 * h, 0.95 * h, n))]
