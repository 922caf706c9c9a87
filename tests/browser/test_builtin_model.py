"""The browser annotator out of the box: `samkit serve` with no model flags serves the built-in
model, and a click on the cat of the CC0 example photo gives, in the page, the mask the server's
ONNX decoder gives natively, a sensible one."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from browser.conftest import ReferenceDecoder
from browser.harness import (
    CURRENT_MASK_RGB, chromium_page, image_to_page, open_app, open_image, overlay_pixels, serve_app, wait_decodes,
)

pytestmark = pytest.mark.browser

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chelsea.png"
CAT_CLICK_XY = (250.5, 170.5)


@pytest.fixture(scope="module")
def builtin_server(browser_ready, tmp_path_factory) -> dict:
    from samkit.build import load_model
    from samkit.serve.app import create_app

    folder = tmp_path_factory.mktemp("builtin")
    shutil.copy(EXAMPLE, folder / EXAMPLE.name)
    with serve_app(create_app(folder, load_model())) as url:  # load_model(): what `samkit serve` uses
        yield {"url": url, "folder": folder}


def test_click_on_the_cat_in_the_page(builtin_server):
    url = builtin_server["url"]
    model = httpx.get(url + "api/model").json()
    assert model["name"] == "tiny_vit_cpu"
    iid = next(i["id"] for i in httpx.get(url + "api/images").json() if i["file_name"] == EXAMPLE.name)
    with chromium_page() as page:
        open_app(page, url)
        open_image(page, iid)
        ref = ReferenceDecoder(url, iid)
        page.keyboard.press("h")  # no hover preview: only the click draws
        page.mouse.click(*image_to_page(page, *CAT_CLICK_XY, ref.orig_hw))
        wait_decodes(page, "click", 1)
        clicked = page.evaluate("window.__samkit.prompt()")["points"][0]
        expected, _, _ = ref.best_single_click((clicked["x"], clicked["y"]))
        assert expected[int(CAT_CLICK_XY[1]), int(CAT_CLICK_XY[0])] and 0.002 < expected.mean() < 0.9
        drawn = overlay_pixels(page, CURRENT_MASK_RGB)
        canvas_px = page.evaluate("(() => { const c = document.getElementById('overlay-canvas'); "
                                  "return c.width * c.height; })()")
        assert abs(drawn / canvas_px - expected.mean()) < 0.05
