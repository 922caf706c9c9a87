"""The annotator in a real browser: Chromium (headless) against `samkit serve`, tiny preset.

One image goes through the whole path: open (server encodes, page fetches the float16 embedding),
click (decoder runs in the page), see the mask on the canvas, pick among three masks, box, undo and
redo, accept (COCO RLE from TypeScript), relabel, delete, export, reload and find it all again.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from browser.conftest import ReferenceDecoder
from browser.harness import (
    CURRENT_MASK_RGB, chromium_page, decode_count, image_to_page, open_app, open_image, overlay_pixels,
    wait_decodes,
)

pytestmark = pytest.mark.browser

FIRST_OBJECT_RGB = (230, 25, 75)  # render.ts PALETTE[0]


def image_id(server: dict) -> str:
    images = httpx.get(server["url"] + "api/images").json()
    return next(i["id"] for i in images if i["file_name"] == "shapes.png")


def pick_click(ref: ReferenceDecoder) -> tuple[tuple[float, float], np.ndarray]:
    """A click whose mask (random weights) is neither empty nor the whole image, so drawing shows."""
    h, w = ref.orig_hw
    for fy, fx in [(0.3, 0.3), (0.75, 0.8), (0.7, 0.25), (0.5, 0.5), (0.2, 0.8), (0.85, 0.5)]:
        point = (round(fx * w) + 0.5, round(fy * h) + 0.5)
        mask, _, _ = ref.best_single_click(point)
        if 0.03 < mask.mean() < 0.97:
            return point, mask
    pytest.fail("every candidate click gives an empty or full mask with these random weights")


def rle_mask(segmentation: dict) -> np.ndarray:
    return mask_utils.decode({"size": segmentation["size"], "counts": segmentation["counts"].encode()}).astype(bool)


def test_click_accept_export_reload(tiny_server):
    url = tiny_server["url"]
    iid = image_id(tiny_server)
    with chromium_page() as page:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        open_app(page, url)
        open_image(page, iid)
        ref = ReferenceDecoder(url, iid)
        hw = ref.orig_hw
        stats = page.evaluate("window.__samkitStats")
        assert stats["crossOriginIsolated"], "COOP/COEP headers missing: wasm threads unavailable"
        assert overlay_pixels(page, CURRENT_MASK_RGB) == 0
        page.keyboard.press("h")  # no hover preview: only the click draws
        point, expected = pick_click(ref)

        page.mouse.click(*image_to_page(page, *point, hw))
        wait_decodes(page, "click", 1)
        page.wait_for_function("document.querySelectorAll('#mask-choices .choice').length === 3")
        clicked = page.evaluate("window.__samkit.prompt()")
        assert len(clicked["points"]) == 1 and clicked["points"][0]["label"] == 1
        px, py = clicked["points"][0]["x"], clicked["points"][0]["y"]
        assert abs(px - point[0]) < 1.5 and abs(py - point[1]) < 1.5  # display -> image frame mapping
        expected, k_best, iou_best = ref.best_single_click((px, py))
        # The mask is on the canvas, covering about as much of it as the reference mask covers the image.
        drawn = overlay_pixels(page, CURRENT_MASK_RGB)
        canvas_px = page.evaluate("(() => { const c = document.getElementById('overlay-canvas'); return c.width * c.height; })()")
        assert drawn > 0
        assert abs(drawn / canvas_px - expected.mean()) < 0.05
        chosen = page.get_attribute("#mask-choices .choice.chosen", "data-mask")
        assert chosen == str(k_best)

        # Picking another mask re-renders without decoding again.
        other = 1 if k_best != 1 else 2
        n_before = decode_count(page, "click")
        page.keyboard.press(str(other))
        assert page.get_attribute("#mask-choices .choice.chosen", "data-mask") == str(other)
        assert decode_count(page, "click") == n_before
        page.keyboard.press(str(k_best))

        # Accept: stored as COCO RLE, identical to the reference mask.
        page.fill("#category-input", "blob")
        page.press("#category-input", "Enter")  # leaves the field, so keys are shortcuts again
        page.keyboard.press("a")
        page.wait_for_selector("li.object[data-annotation-id]")
        assert overlay_pixels(page, FIRST_OBJECT_RGB) > 0
        assert page.evaluate("window.__samkit.prompt().points.length") == 0

        saved = httpx.get(f"{url}api/images/{iid}/annotations").json()["annotations"]
        assert len(saved) == 1 and saved[0]["category"] == "blob"
        got = rle_mask(saved[0]["segmentation"])
        assert got.shape == tuple(hw)
        iou = (got & expected).sum() / max(1, (got | expected).sum())
        assert iou > 0.999, f"page mask differs from onnxruntime's: IoU {iou:.5f}"
        assert saved[0]["area"] == int(got.sum())
        x, y, bw, bh = saved[0]["bbox"]
        ys, xs = np.nonzero(got)
        assert (x, y, bw, bh) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        assert saved[0]["predicted_iou"] == pytest.approx(iou_best, abs=2e-3)

        # Relabel in the object list.
        field = page.locator("li.object input.category").first
        field.fill("disc")
        field.press("Enter")
        page.wait_for_function("/Relabelled.*Saved/.test(document.getElementById('status').textContent)")

        # Export COCO from the page's button.
        with page.expect_download() as dl:
            page.click("#export-coco")
        coco = json.loads(open(dl.value.path()).read())
        anns = coco["annotations"]
        assert len(anns) == 1
        cats = {c["id"]: c["name"] for c in coco["categories"]}
        assert cats[anns[0]["category_id"]] == "disc"
        assert (rle_mask(anns[0]["segmentation"]) == got).all()

        with page.expect_download() as dl:
            page.click("#export-masks")
        assert dl.value.suggested_filename.endswith(".zip")

        # Reload: the object is still there, drawn and listed.
        page.reload()
        open_app(page, url)
        open_image(page, iid)
        page.wait_for_selector("li.object[data-annotation-id]")
        assert page.locator("li.object input.category").first.input_value() == "disc"
        assert overlay_pixels(page, FIRST_OBJECT_RGB) > 0
        assert not page.errors, page.errors
        foreign = [r for r in requests if not r.startswith(url) and not r.startswith(("data:", "blob:"))]
        assert not foreign, f"the page reached outside the server: {foreign}"


def test_box_background_undo_redo_delete(tiny_server):
    url = tiny_server["url"]
    iid = image_id(tiny_server)
    with chromium_page() as page:
        open_app(page, url)
        open_image(page, iid)
        page.keyboard.press("h")
        h, w = 300, 400
        n0 = decode_count(page, "click")
        # Box drag from (60, 50) to (200, 150) in image px.
        page.mouse.move(*image_to_page(page, 60, 50, (h, w)))
        page.mouse.down()
        page.mouse.move(*image_to_page(page, 130, 100, (h, w)), steps=4)
        page.mouse.move(*image_to_page(page, 200, 150, (h, w)), steps=4)
        page.mouse.up()
        wait_decodes(page, "click", n0 + 1)
        prompt = page.evaluate("window.__samkit.prompt()")
        assert prompt["points"] == [] and prompt["box"] is not None
        assert prompt["box"]["x0"] == pytest.approx(60.5, abs=1.5) and prompt["box"]["y1"] == pytest.approx(150.5, abs=1.5)
        assert page.is_hidden("#mask-choices")  # a box is not ambiguous: one mask, no choice
        last = page.evaluate("window.__samkitStats.decodes.at(-1)")
        assert last["points"] == 2  # two box corners, no padding point

        # Right click = background point; Shift+click too.
        page.mouse.click(*image_to_page(page, 100, 120, (h, w)), button="right")
        wait_decodes(page, "click", n0 + 2)
        page.keyboard.down("Shift")
        page.mouse.click(*image_to_page(page, 180, 60, (h, w)))
        page.keyboard.up("Shift")
        wait_decodes(page, "click", n0 + 3)
        labels = [p["label"] for p in page.evaluate("window.__samkit.prompt().points")]
        assert labels == [0, 0]

        page.keyboard.press("z")
        assert len(page.evaluate("window.__samkit.prompt().points")) == 1
        page.keyboard.press("Control+z")
        assert page.evaluate("window.__samkit.prompt().points") == []
        assert page.evaluate("window.__samkit.prompt().box") is not None
        page.keyboard.press("y")
        page.keyboard.press("Control+Shift+Z")
        assert len(page.evaluate("window.__samkit.prompt().points")) == 2
        page.keyboard.press("Escape")
        assert page.evaluate("window.__samkit.prompt()") == {"points": [], "box": None}
        page.keyboard.press("z")  # clearing is undoable too
        assert len(page.evaluate("window.__samkit.prompt().points")) == 2

        # Accept two objects (a click known to give a non-empty mask), delete one with the Delete key.
        page.keyboard.press("Escape")
        point, _ = pick_click(ReferenceDecoder(url, iid))
        before = len(httpx.get(f"{url}api/images/{iid}/annotations").json()["annotations"])
        for n in (1, 2):
            clicks = decode_count(page, "click")
            page.mouse.click(*image_to_page(page, *point, (h, w)))
            wait_decodes(page, "click", clicks + 1)
            page.keyboard.press("a")
            page.wait_for_function(
                "(n) => document.querySelectorAll('li.object[data-annotation-id]').length === n", arg=before + n
            )
        page.locator("li.object .meta").nth(before).click()
        page.keyboard.press("Delete")
        page.wait_for_function("(n) => document.querySelectorAll('li.object').length === n", arg=before + 1)
        page.wait_for_function("/Deleted.*Saved/.test(document.getElementById('status').textContent)")
        after = httpx.get(f"{url}api/images/{iid}/annotations").json()["annotations"]
        assert len(after) == before + 1
        assert not page.errors, page.errors


def test_hover_preview_and_help(tiny_server):
    url = tiny_server["url"]
    iid = image_id(tiny_server)
    with chromium_page() as page:
        open_app(page, url)
        open_image(page, iid)
        page.keyboard.press("o")  # hide accepted objects so only the preview paints
        n0 = decode_count(page, "hover")
        # A quick sweep (ten moves within one task, as a fast mouse gives) is debounced into one decode.
        sweep = [image_to_page(page, x, 80, (300, 400)) for x in range(50, 150, 10)]
        page.evaluate(
            """(pts) => { const c = document.getElementById('overlay-canvas');
                for (const [x, y] of pts) c.dispatchEvent(new PointerEvent('pointermove', {clientX: x, clientY: y, bubbles: true})); }""",
            sweep,
        )
        wait_decodes(page, "hover", n0 + 1)
        page.wait_for_timeout(300)
        assert decode_count(page, "hover") - n0 == 1
        last = page.evaluate("window.__samkitStats.decodes.at(-1)")
        assert last["points"] == 2  # the hover point and the padding point
        assert page.evaluate("window.__samkit.prompt().points") == []  # hovering adds no prompt
        # Zoom in with the wheel around an image point: that point stays under the mouse, and a click
        # there lands on it in the image frame; F fits the image again.
        page.keyboard.press("h")
        width = page.locator("#overlay-canvas").bounding_box()["width"]
        target = (300.0, 220.0)
        page.mouse.move(*image_to_page(page, *target, (300, 400)))
        page.mouse.wheel(0, -400)
        page.wait_for_function("(w) => document.getElementById('overlay-canvas').getBoundingClientRect().width > 1.5 * w", arg=width)
        n = decode_count(page, "click")
        page.mouse.click(*image_to_page(page, *target, (300, 400)))
        wait_decodes(page, "click", n + 1)
        pt = page.evaluate("window.__samkit.prompt().points[0]")
        assert abs(pt["x"] - target[0] - 0.5) < 0.5 and abs(pt["y"] - target[1] - 0.5) < 0.5
        page.keyboard.press("Escape")
        page.keyboard.press("f")
        assert page.locator("#overlay-canvas").bounding_box()["width"] == pytest.approx(width, abs=1)

        page.keyboard.press("?")
        assert page.is_visible("#help")
        rows = page.locator("#help-table tr").all_inner_texts()
        assert any("Accept" in r for r in rows) and any("Undo" in r for r in rows)
        page.keyboard.press("Escape")
        assert page.is_hidden("#help")
        assert not page.errors, page.errors


def test_upload_next_image_and_rejected_upload(tiny_server, tmp_path):
    from browser.conftest import write_shapes_image

    url = tiny_server["url"]
    with chromium_page() as page:
        open_app(page, url)
        n_images = page.locator("li.image").count()
        upload = write_shapes_image(tmp_path / "uploaded.png", hw=(200, 260))
        page.set_input_files("#upload-input", str(upload))
        page.wait_for_function("(n) => document.querySelectorAll('li.image').length === n", arg=n_images + 1)
        new_id = next(i["id"] for i in httpx.get(url + "api/images").json() if i["file_name"] == "uploaded.png")
        # The page opens what was just uploaded and encodes it.
        page.wait_for_function(
            "(id) => document.body.dataset.imageId === id && document.body.dataset.embedding === 'ready'",
            arg=new_id, timeout=120_000,
        )
        assert (tiny_server["folder"] / "uploaded.png").is_file()
        page.keyboard.press("n")
        page.wait_for_function(
            "(id) => document.body.dataset.imageId !== id && document.body.dataset.embedding === 'ready'",
            arg=new_id, timeout=120_000,
        )
        page.keyboard.press("p")
        page.wait_for_function(
            "(id) => document.body.dataset.imageId === id && document.body.dataset.embedding === 'ready'",
            arg=new_id, timeout=120_000,
        )
        # Not an image: the server refuses it and the page says why.
        bad = tmp_path / "notes.png"
        bad.write_text("this is text, not a PNG")
        page.set_input_files("#upload-input", str(bad))
        page.wait_for_selector("#status.error")
        assert "notes.png" in page.inner_text("#status")
        assert page.locator("li.image").count() == n_images + 1


def test_a_save_from_another_client_is_merged_not_lost(tiny_server):
    """Another client saves the image while the page has it open: the page's next save gets 409,
    merges the stored list with its own edit and saves both (no update is lost)."""
    url = tiny_server["url"]
    iid = image_id(tiny_server)
    api = f"{url}api/images/{iid}/annotations"
    httpx.put(api, json=[])  # a clean slate for this test
    with chromium_page() as page:
        open_app(page, url)
        open_image(page, iid)
        ref = ReferenceDecoder(url, iid)
        page.keyboard.press("h")
        point, _ = pick_click(ref)
        page.mouse.click(*image_to_page(page, *point, ref.orig_hw))
        wait_decodes(page, "click", 1)
        page.fill("#category-input", "mine")
        page.press("#category-input", "Enter")
        page.keyboard.press("a")
        page.wait_for_selector("li.object[data-annotation-id]")
        page.wait_for_function("/Saved/.test(document.getElementById('status').textContent)")

        stored = httpx.get(api)  # the other client: reads, adds an object, saves over that version
        theirs = stored.json()["annotations"] + [dict(stored.json()["annotations"][0], id=None, category="theirs")]
        assert httpx.put(api, json=theirs, headers={"If-Match": stored.headers["etag"]}).status_code == 200

        field = page.locator("li.object input.category").first  # the page edits its (now stale) list
        field.fill("mine-relabelled")
        field.press("Enter")
        page.wait_for_function("/merged with yours\\. Saved/.test(document.getElementById('status').textContent)")
        final = httpx.get(api).json()
        assert sorted(a["category"] for a in final["annotations"]) == ["mine-relabelled", "theirs"]
        assert page.locator("li.object").count() == 2
        # The browser logs the refused save itself; nothing else went wrong.
        assert [e for e in page.errors if "status of 409" not in e] == [], page.errors
