"""Decode latency in the page with a vit_b-sized decoder (SAM's 256-dim decoder on a 64x64 embedding).

The numbers for docs/benchmarks.md come from benchmarks/browser_decode.py; this test checks that the
measurement works end to end (30 clicks, each decoded in the page and timed around session.run) and
prints p50/p95, so a CI log shows them too.
"""

from __future__ import annotations

import numpy as np
import pytest

from browser.conftest import write_shapes_image
from browser.harness import chromium_page, click_latencies, open_app, open_image, random_clicks, serve_app, vit_b_decoder_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_vit_b_decoder_click_latency(browser_ready, tmp_path):
    import torch

    from samkit.build import build_sam
    from samkit.serve.app import create_app

    write_shapes_image(tmp_path / "photo.png", hw=(480, 640))
    torch.manual_seed(0)
    model = build_sam(vit_b_decoder_config())
    with serve_app(create_app(tmp_path, model)) as url, chromium_page() as page:
        open_app(page, url, timeout_s=300)
        assert page.evaluate("window.__samkitStats.decodes.length") == 0
        image_id = page.get_attribute("li.image", "data-image-id")
        open_image(page, image_id)
        assert page.evaluate("document.getElementById('model-info').textContent").endswith("256×64×64")
        page.keyboard.press("h")  # hover previews off: one decode per click
        click_latencies(page, random_clicks((480, 640), 3, seed=1), (480, 640))  # warm-up
        ms = np.array(click_latencies(page, random_clicks((480, 640), 30), (480, 640)))
        assert len(ms) == 30 and np.isfinite(ms).all() and (ms > 0).all()
        p50, p95 = np.percentile(ms, [50, 95])
        threads = page.evaluate("window.__samkitStats.threads")
        print(f"\nvit_b-sized decoder in Chromium (wasm, {threads} thread(s)): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        assert not page.errors, page.errors
