"""The annotator in a real browser with a SAM 2 model (decoder_mode "server").

By default the page loads SAM 2's split ONNX decoder (/models/sam2-decoder-*.onnx), fetches each
image's features (float16) and decodes in the page; with ?sam2=server (and whenever the in-page path
is not ready or fails) it sends each prompt to POST /api/images/{id}/decode instead. Either way it
draws and accepts the mask SAM2ImagePredictor gives for the same click (whole-image upscaling)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from browser.conftest import write_shapes_image
from browser.harness import (
    CURRENT_MASK_RGB, chromium_page, image_to_page, open_app, open_image, overlay_pixels, serve_app, wait_decodes,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sam2_server(browser_ready, tmp_path_factory):
    import torch

    from samkit.build import load_model
    from samkit.serve.app import create_app

    folder = tmp_path_factory.mktemp("annotate_sam2")
    write_shapes_image(folder / "shapes.png")
    torch.manual_seed(0)
    model = load_model("sam2_test_tiny", device="cpu")
    with serve_app(create_app(folder, model)) as url:
        yield {"url": url, "folder": folder, "model": model}


def _best_single_click(predictor, point):
    pred = predictor.segment(np.array([point], float), np.array([1]), multimask_output=True)
    k = int(np.argmax(pred.iou_predictions))
    return pred.masks[k], k, float(pred.iou_predictions[k])


def test_click_and_accept_decode_on_the_server(sam2_server):
    from samkit.image_io import load_image
    from samkit.inference.sam2_predictor import SAM2ImagePredictor

    url = sam2_server["url"]
    iid = next(i["id"] for i in httpx.get(url + "api/images").json() if i["file_name"] == "shapes.png")
    predictor = SAM2ImagePredictor(sam2_server["model"])
    predictor.set_image(load_image(sam2_server["folder"] / "shapes.png"))
    with chromium_page() as page:
        requests: list[tuple[str, str]] = []
        page.on("request", lambda r: requests.append((r.method, r.url)))
        open_app(page, url + "?sam2=server")
        assert "decoded on the server" in page.inner_text("#model-info")
        open_image(page, iid)
        hw = (300, 400)
        page.keyboard.press("h")  # no hover preview: only the click decodes
        for fy, fx in [(0.3, 0.3), (0.75, 0.8), (0.7, 0.25), (0.5, 0.5), (0.2, 0.8), (0.85, 0.5)]:
            point = (round(fx * hw[1]) + 0.5, round(fy * hw[0]) + 0.5)
            if 0.03 < _best_single_click(predictor, point)[0].mean() < 0.97:
                break
        else:
            pytest.fail("every candidate click gives an empty or full mask with these random weights")
        page.mouse.click(*image_to_page(page, *point, hw))
        wait_decodes(page, "click", 1)
        page.wait_for_function("document.querySelectorAll('#mask-choices .choice').length === 3")
        clicked = page.evaluate("window.__samkit.prompt()")["points"][0]
        expected, k_best, iou_best = _best_single_click(predictor, (clicked["x"], clicked["y"]))
        assert page.get_attribute("#mask-choices .choice.chosen", "data-mask") == str(k_best + 1)
        drawn = overlay_pixels(page, CURRENT_MASK_RGB)
        canvas_px = page.evaluate("(() => { const c = document.getElementById('overlay-canvas'); return c.width * c.height; })()")
        assert drawn > 0 and abs(drawn / canvas_px - expected.mean()) < 0.05
        assert "on the server" in page.inner_text("#latency")

        page.keyboard.press("a")
        page.wait_for_selector("li.object[data-annotation-id]")
        saved = httpx.get(f"{url}api/images/{iid}/annotations").json()["annotations"]
        seg = saved[0]["segmentation"]
        got = mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool)
        iou = (got & expected).sum() / max(1, (got | expected).sum())
        # Only float16 transport of the logits separates the page from the predictor.
        assert iou > 0.995, f"page mask differs from SAM2ImagePredictor's: IoU {iou:.5f}"
        assert saved[0]["predicted_iou"] == pytest.approx(iou_best, abs=2e-3)
        assert not page.errors, page.errors
        assert ("POST", f"{url}api/images/{iid}/decode") in requests
        # Neither the ONNX decoder nor the embedding is downloaded: the features stay on the server.
        assert not [u for m, u in requests if u.endswith("decoder.onnx") or (m == "GET" and u.endswith("/embedding"))]


def test_click_and_accept_decode_in_the_page(sam2_server):
    from samkit.image_io import load_image
    from samkit.inference.sam2_predictor import SAM2ImagePredictor

    url = sam2_server["url"]
    iid = next(i["id"] for i in httpx.get(url + "api/images").json() if i["file_name"] == "shapes.png")
    predictor = SAM2ImagePredictor(sam2_server["model"])
    predictor.set_image(load_image(sam2_server["folder"] / "shapes.png"))
    with chromium_page() as page:
        requests: list[tuple[str, str]] = []
        page.on("request", lambda r: requests.append((r.method, r.url)))
        open_app(page, url)
        open_image(page, iid)
        # The first image opened loads SAM 2's split decoder (the server exports it on that request: a minute
        # or so on a slow CPU), then this image's features.
        page.wait_for_function("window.__samkitDecoder.sam2.prepareMs !== null", timeout=600_000)
        sam2 = page.evaluate("window.__samkitDecoder.sam2")
        assert sam2["error"] == "" and sam2["featureBytes"] > 0
        hw = (300, 400)
        page.keyboard.press("h")
        point = (0.3 * hw[1] + 0.5, 0.3 * hw[0] + 0.5)
        for fy, fx in [(0.3, 0.3), (0.75, 0.8), (0.7, 0.25), (0.5, 0.5), (0.2, 0.8), (0.85, 0.5)]:
            point = (round(fx * hw[1]) + 0.5, round(fy * hw[0]) + 0.5)
            if 0.03 < _best_single_click(predictor, point)[0].mean() < 0.97:
                break
        page.mouse.click(*image_to_page(page, *point, hw))
        wait_decodes(page, "click", 1)
        page.wait_for_function("document.querySelectorAll('#mask-choices .choice').length === 3")
        clicked = page.evaluate("window.__samkit.prompt()")["points"][0]
        expected, k_best, iou_best = _best_single_click(predictor, (clicked["x"], clicked["y"]))
        assert page.get_attribute("#mask-choices .choice.chosen", "data-mask") == str(k_best + 1)
        assert "on the server" not in page.inner_text("#latency")
        page.keyboard.press("a")
        page.wait_for_selector("li.object[data-annotation-id]")
        saved = httpx.get(f"{url}api/images/{iid}/annotations").json()["annotations"]
        seg = saved[-1]["segmentation"]
        got = mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool)
        iou = (got & expected).sum() / max(1, (got | expected).sum())
        # The page decodes float16 features; the predictor here has the float32 ones.
        assert iou > 0.99, f"page mask differs from SAM2ImagePredictor's: IoU {iou:.5f}"
        assert saved[-1]["predicted_iou"] == pytest.approx(iou_best, abs=1e-2)
        assert not page.errors, page.errors
        assert ("GET", f"{url}api/images/{iid}/features") in requests
        assert not [u for m, u in requests if m == "POST" and u.endswith("/decode")]  # nothing decoded on the server
