"""Hover preview that keeps up, and the page's split decoder (image graph once, prompt graph per click).

The hover preview decodes only the newest mouse position: positions that arrive while a decode runs
are dropped (counted), never queued, and once the mouse stops at most one more decode runs, of the
last position. Opening an image runs the image graph and one warm-up decode, so the first click does
not pay for onnxruntime's first-run set-up. ?decoder=official falls back to the official graph.
"""

from __future__ import annotations

import numpy as np
import pytest

from browser.conftest import ReferenceDecoder
from browser.harness import (
    CURRENT_MASK_RGB, chromium_page, click_latencies, decode_count, image_to_page, open_app, open_image,
    overlay_pixels, wait_decodes,
)

pytestmark = pytest.mark.browser
HW = (300, 400)


def image_id(server) -> str:
    import httpx

    return httpx.get(server["url"] + "api/images").json()[0]["id"]


def sweep(page, points_xy, gap_ms: int) -> None:
    """Pointer moves over the image, `gap_ms` apart (a mouse moving steadily)."""
    pts = [image_to_page(page, x, y, HW) for x, y in points_xy]
    page.evaluate(
        """async ([pts, gap]) => { const c = document.getElementById('overlay-canvas');
            for (const [x, y] of pts) {
              c.dispatchEvent(new PointerEvent('pointermove', {clientX: x, clientY: y, bubbles: true}));
              await new Promise(r => setTimeout(r, gap));
            } }""",
        [pts, gap_ms],
    )


def test_split_decoder_warms_up_when_the_image_opens(tiny_server):
    iid = image_id(tiny_server)
    with chromium_page() as page:
        open_app(page, tiny_server["url"])
        info = page.evaluate("window.__samkitDecoder.info")
        assert info["graph"] == "split", info
        open_image(page, iid)
        page.wait_for_function("window.__samkitDecoder.prepareMs !== null")  # image graph + warm-up decode ran
        image_ms, warm_ms = page.evaluate("window.__samkitDecoder.prepareMs")
        assert image_ms > 0 and warm_ms > 0
        page.keyboard.press("h")
        ms = click_latencies(page, [(120.0, 90.0), (300.0, 220.0), (100.0, 230.0), (200.0, 150.0)], HW)
        print(f"\nopen: image graph {image_ms:.1f} ms, warm-up decode {warm_ms:.1f} ms; clicks {np.round(ms, 1)} ms")
        # Each click's draw time and its split (benchmarks/browser_decode.py reports both).
        clicks = page.evaluate("window.__samkitStats.decodes.filter(d => d.kind === 'click')")
        for d in clicks:
            parts = d["drawParts"]
            assert d["drawMs"] >= 0 and set(parts) == {"mask", "overlay", "panels"}
            assert min(parts.values()) >= 0 and sum(parts.values()) <= d["drawMs"] + 1.0
        assert not page.errors, page.errors


def test_hover_follows_the_newest_position_and_drops_stale_ones(tiny_server):
    iid = image_id(tiny_server)
    ref = ReferenceDecoder(tiny_server["url"], iid)
    with chromium_page() as page:
        open_app(page, tiny_server["url"])
        open_image(page, iid)
        page.keyboard.press("o")  # hide accepted objects: only the preview paints
        n0 = decode_count(page, "hover")
        path = [(40.0 + 6 * i, 60.0 + 3 * i) for i in range(50)]
        sweep(page, path, gap_ms=2)  # far faster than a decode: most positions must be dropped
        page.wait_for_function("(x) => window.__samkitHover.last && Math.abs(window.__samkitHover.last[0] - x) < 1.5",
                               arg=path[-1][0])
        wait_decodes(page, "hover", n0 + page.evaluate("window.__samkitHover.decoded"))
        page.wait_for_timeout(300)
        stats = page.evaluate("window.__samkitHover")
        hover_decodes = decode_count(page, "hover") - n0
        print(f"\nhover: {stats['positions']} positions, {stats['decoded']} decoded, {stats['dropped']} dropped, "
              f"lag p50 {np.median(stats['lagMs']):.1f} ms")
        assert stats["positions"] == len(path)
        assert stats["decoded"] + stats["dropped"] == stats["positions"]  # each decoded once or dropped
        assert 2 <= stats["decoded"] < len(path) and stats["dropped"] > 0
        assert hover_decodes == stats["decoded"]  # nothing queued after the mouse stopped
        last = stats["last"]  # the last decode is of where the mouse stopped
        assert abs(last[0] - path[-1][0]) < 1.5 and abs(last[1] - path[-1][1]) < 1.5
        assert stats["shown"] == stats["decoded"]  # the mouse stayed over the image: every preview drawn
        # The preview on screen is the mask for the last position (best of the 3 masks, like a click).
        mask, _, _ = ref.best_single_click(tuple(last))
        drawn = overlay_pixels(page, CURRENT_MASK_RGB)
        canvas_px = page.evaluate("(() => { const c = document.getElementById('overlay-canvas'); return c.width * c.height; })()")
        assert drawn > 0 and abs(drawn / canvas_px - mask.mean()) < 0.05
        assert not page.errors, page.errors


def test_official_decoder_fallback(tiny_server):
    iid = image_id(tiny_server)
    ref = ReferenceDecoder(tiny_server["url"], iid)
    with chromium_page() as page:
        open_app(page, tiny_server["url"] + "?decoder=official")
        info = page.evaluate("window.__samkitDecoder.info")
        assert info["graph"] == "official" and "official" in info["splitError"]
        open_image(page, iid)
        page.keyboard.press("h")
        n = decode_count(page, "click")
        page.mouse.click(*image_to_page(page, 120.0, 90.0, HW))
        wait_decodes(page, "click", n + 1)
        assert page.evaluate("window.__samkitStats.decodes.at(-1).lowHw") == [64, 64]
        _, k, _ = ref.best_single_click((120.5, 90.5))
        assert page.get_attribute("#mask-choices .choice.chosen", "data-mask") == str(k)
        assert not page.errors, page.errors
