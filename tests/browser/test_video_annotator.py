"""The annotator's video mode in a real browser (SAM 2 tiny, random weights, a 6-frame synthetic clip):
open the video, click an object on frame 0, propagate, scrub to the last frame and find its mask
drawn, correct it on a later frame with a background click, and download the DAVIS export."""

from __future__ import annotations

import io
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from browser.conftest import write_shapes_image
from browser.harness import chromium_page, image_to_page, open_app, overlay_pixels, serve_app
from synthetic_video import synthetic_frames, write_frame_folder

pytestmark = pytest.mark.browser

NUM_FRAMES = 6
HW = (72, 96)
OBJECT_1_RGB = (230, 25, 75)  # render.ts objectColor(0): video object 1


@pytest.fixture(scope="module")
def video_server(browser_ready, tmp_path_factory):
    import torch

    from samkit.build import load_model
    from samkit.serve.app import create_app

    folder = tmp_path_factory.mktemp("annotate_video")
    write_frame_folder(folder / "clip", synthetic_frames(NUM_FRAMES))
    write_shapes_image(folder / "shapes.png")  # the image mode stays available beside the video
    torch.manual_seed(0)
    model = load_model("sam2_test_tiny", device="cpu")
    with serve_app(create_app(folder, model)) as url:
        yield {"url": url, "folder": folder, "model": model}


def _pick_click(model, clip) -> tuple[float, float]:
    """A click whose object is not empty on frame 0 and survives to the last frame with these random
    weights (found with the video predictor the server uses), preferring one that is not the whole
    frame (random weights mostly answer all or nothing on the clicked frame)."""
    from samkit.video.build_video import video_predictor_from_model

    predictor = video_predictor_from_model(model, fill_hole_area=8)
    predictor.binarize_mask_from_pts_for_mem_enc = True
    predictor.show_progress = False
    fallback = None
    for fy in (0.1, 0.3, 0.5, 0.7, 0.9):
        for fx in (0.1, 0.3, 0.5, 0.7, 0.9):
            point = (round(fx * HW[1]) + 0.5, round(fy * HW[0]) + 0.5)
            state = predictor.init_state(str(clip))
            _, _, first = predictor.add_new_points_or_box(state, 0, 1, points=[point], labels=[1])
            share = (first > 0).float().mean().item()
            if not 0 < share < 0.995:
                continue
            if (list(predictor.propagate_in_video(state))[-1][2] > 0).any():
                if share < 0.9:
                    return point
                fallback = fallback or point
    if fallback is None:
        pytest.fail("every candidate click gives an empty or full mask with these random weights")
    return fallback


def _server_mask(url, vid, frame) -> np.ndarray:
    body = httpx.get(f"{url}api/videos/{vid}/frames/{frame}/masks").json()
    seg = body["objects"][0]["segmentation"]
    return mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool)


def _wait_frame(page, frame: int) -> None:
    page.wait_for_function("(t) => document.body.dataset.videoFrame === String(t)", arg=frame, timeout=60_000)


def _drawn_fraction(page) -> float:
    canvas_px = page.evaluate("(() => { const c = document.getElementById('overlay-canvas'); "
                              "return c.width * c.height; })()")
    return overlay_pixels(page, OBJECT_1_RGB) / canvas_px


def test_click_propagate_scrub_correct_export(video_server):
    url, folder = video_server["url"], video_server["folder"]
    vid = next(v["id"] for v in httpx.get(url + "api/videos").json() if v["name"] == "clip")
    point = _pick_click(video_server["model"], folder / "clip")
    video = "window.__samkit.video()"
    with chromium_page() as page:
        open_app(page, url)
        page.click(f"li.video[data-video-id='{vid}']")
        _wait_frame(page, 0)
        assert page.is_visible("#video-timeline") and page.is_visible("#video-tools")
        assert not page.is_visible("#image-tools")
        # The clip's frames are listed as the video, not one by one among the images.
        assert page.locator("li.image").count() == 1 and page.inner_text("li.image .name") == "shapes.png"

        # A click on frame 0 makes object 1, drawn as the server stored it.
        page.mouse.click(*image_to_page(page, *point, HW))
        page.wait_for_function(f"{video}.promptsAnswered >= 1", timeout=60_000)
        snap = page.evaluate(video)
        assert (snap["objects"], snap["selected"], snap["source"]) == ([1], 1, "prompted")
        stored = _server_mask(url, vid, 0)
        assert snap["areas"]["1"] == stored.sum() > 0
        assert abs(_drawn_fraction(page) - stored.mean()) < 0.05

        # Propagate, then scrub to the last frame with the slider: its tracked mask is drawn.
        page.click("#video-propagate")
        page.wait_for_function("document.body.dataset.propagation === 'done'", timeout=120_000)
        last = NUM_FRAMES - 1
        page.locator("#frame-slider").fill(str(last))
        _wait_frame(page, last)
        snap = page.evaluate(video)
        stored = _server_mask(url, vid, last)
        assert snap["source"] == "tracked" and snap["areas"]["1"] == stored.sum() > 0
        assert snap["maskedFrames"] == list(range(NUM_FRAMES))
        assert abs(_drawn_fraction(page) - stored.mean()) < 0.05
        assert page.inner_text("#frame-label") == f"frame {last} / {last}"

        # Correct on frame 3: back two frames (button, then arrow key), a background click inside the object.
        page.click("#frame-prev")
        page.keyboard.press("ArrowLeft")
        _wait_frame(page, 3)
        inside = np.argwhere(_server_mask(url, vid, 3))
        y, x = inside[len(inside) // 2]
        page.keyboard.down("Shift")
        page.mouse.click(*image_to_page(page, float(x) + 0.5, float(y) + 0.5, HW))
        page.keyboard.up("Shift")
        page.wait_for_function(f"{video}.promptsAnswered >= 2", timeout=60_000)
        session = httpx.get(f"{url}api/videos/{vid}").json()
        assert session["objects"] == [{"obj_id": 1, "prompted_frames": [0, 3]}]
        prompt = httpx.get(f"{url}api/videos/{vid}/frames/3/masks").json()["prompts"][0]
        assert prompt["labels"] == [0] and prompt["points"][0] == pytest.approx([x + 0.5, y + 0.5], abs=0.6)
        snap = page.evaluate(video)
        assert snap["source"] == "prompted" and snap["areas"]["1"] == _server_mask(url, vid, 3).sum()

        # Export: the DAVIS zip the page downloads holds every frame's label map.
        with page.expect_download() as download:
            page.click("#video-export")
        with zipfile.ZipFile(download.value.path()) as zf:
            assert zf.namelist() == [f"clip/{t:05d}.png" for t in range(NUM_FRAMES)]
            img = Image.open(io.BytesIO(zf.read("clip/00003.png")))
            assert img.mode == "P" and img.size == (HW[1], HW[0])
            np.testing.assert_array_equal(np.array(img) == 1, _server_mask(url, vid, 3))

        # Back to the image mode: the image list still opens images.
        page.click("li.image")
        page.wait_for_function("document.body.dataset.mode === 'image' && document.body.dataset.embedding === 'ready'",
                               timeout=120_000)
        assert not page.is_visible("#video-timeline") and page.is_visible("#image-tools")
        assert not page.errors, page.errors
