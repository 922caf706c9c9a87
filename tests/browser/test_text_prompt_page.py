"""Text prompts in the annotator, in a real browser: the page's text field sends the word to
POST /api/images/{id}/decode_text and draws and accepts the mask SamPredictor gives for that text;
an unknown word shows the server's message (docs/text-prompts.md)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from text_prompt_fixtures import NAMES, tiny_text_model

from browser.conftest import write_shapes_image
from browser.harness import CURRENT_MASK_RGB, chromium_page, open_app, open_image, overlay_pixels, serve_app, wait_decodes

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def text_server(browser_ready, tmp_path_factory):
    from samkit.serve.app import create_app

    folder = tmp_path_factory.mktemp("annotate_text")
    write_shapes_image(folder / "shapes.png")
    model = tiny_text_model(seed=0)  # random weights; "dog" gives a mask over about half of this image
    with serve_app(create_app(folder, model)) as url:
        yield {"url": url, "folder": folder, "model": model}


def test_text_field_decodes_on_the_server_and_refuses_unknown_words(text_server):
    from samkit import SamPredictor
    from samkit.image_io import load_image

    url = text_server["url"]
    iid = next(i["id"] for i in httpx.get(url + "api/images").json() if i["file_name"] == "shapes.png")
    predictor = SamPredictor(text_server["model"])
    predictor.set_image(load_image(text_server["folder"] / "shapes.png"))
    pred = predictor.segment(text="dog")
    k_best = int(np.argmax(pred.iou_predictions))
    expected = pred.masks[k_best].astype(bool)
    assert 0.05 < expected.mean() < 0.95, "this seed no longer gives a partial mask for 'dog'"
    # A text decode during the server's background export of the page decoders used to fail (the
    # export traced the served modules); it now traces a copy (tests/serve/test_decode_during_export.py),
    # so this test types right away, while the export may still run.
    with chromium_page() as page:
        requests: list[tuple[str, str]] = []
        page.on("request", lambda r: requests.append((r.method, r.url)))
        open_app(page, url)
        open_image(page, iid)
        assert page.is_visible("#text-input")
        options = page.eval_on_selector_all("#text-options option", "els => els.map(e => e.value)")
        assert options == list(NAMES)  # the closed vocabulary, as suggestions
        page.keyboard.press("h")  # no hover preview: only the text decodes

        page.fill("#text-input", "dog")
        page.press("#text-input", "Enter")
        wait_decodes(page, "click", 1)
        page.wait_for_function("document.getElementById('status').textContent.includes('dog')")
        assert page.evaluate("window.__samkit.prompt()").get("text") == "dog"
        drawn = overlay_pixels(page, CURRENT_MASK_RGB)
        canvas_px = page.evaluate("(() => { const c = document.getElementById('overlay-canvas'); return c.width * c.height; })()")
        assert drawn > 0 and abs(drawn / canvas_px - expected.mean()) < 0.05
        assert "on the server" in page.inner_text("#latency")
        assert ("POST", f"{url}api/images/{iid}/decode_text") in requests

        page.keyboard.press("a")
        page.wait_for_selector("li.object[data-annotation-id]")
        saved = httpx.get(f"{url}api/images/{iid}/annotations").json()["annotations"]
        seg = saved[0]["segmentation"]
        got = mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool)
        iou = (got & expected).sum() / max(1, (got | expected).sum())
        # Only float16 transport of the logits separates the page from the predictor.
        assert iou > 0.99, f"page mask differs from SamPredictor's for text='dog': IoU {iou:.5f}"
        assert saved[0]["predicted_iou"] == pytest.approx(float(pred.iou_predictions[k_best]), abs=2e-3)
        assert page.input_value("#text-input") == ""  # accepting ends the prompt, its text too

        page.fill("#text-input", "zebra")
        page.click("#text-button")
        page.wait_for_function("document.getElementById('status').classList.contains('error')")
        message = page.inner_text("#status")
        assert "zebra" in message and "prompt rejected" in message, message
        assert page.evaluate("window.__samkit.prompt()").get("text") is None  # the refused word is taken back
        # Chromium logs the refused request itself; nothing else may go wrong.
        assert not [e for e in page.errors if "status of 422" not in e], page.errors
