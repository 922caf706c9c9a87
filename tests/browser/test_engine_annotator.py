"""The data engine's browser modes in a real Chromium against `samkit engine annotate`'s app (tiny model).

Assisted (stage 1): click -> accept stores the mask with its clicks and seconds; N finishes the image.
A retrained round adopted meanwhile is picked up without a restart (decoder + embedding reloaded).
Semi-automatic (stage 2): proposals shown, unlabeled pixels hatched, a click rejects a proposal, N
accepts the rest; another annotator's change in between gives a 409 the page shows and recovers from.
Review (stage 3): accept / reject sampled automatic masks, the rejection rate shown.
(scripts/engine_screenshots.py drives the same page through the harness for docs/img/engine_*.png.)
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from browser.conftest import ReferenceDecoder
from browser.harness import chromium_page, image_to_page, overlay_pixels, serve_app, wait_decodes
from engine_web.engine_project import add_automatic_masks, add_proposals, adopt_round, make_project

pytestmark = pytest.mark.browser

HATCH_RGB = (255, 210, 0)  # engineoverlay.ts HATCH_RGB


@pytest.fixture(scope="module")
def engine_server(browser_ready, one_torch_thread, tmp_path_factory):
    from samkit.engine.web_app import create_engine_app

    project = make_project(tmp_path_factory.mktemp("engine"), n_images=3)
    with serve_app(create_engine_app(project, "alice")) as url:
        yield {"url": url, "project": project}


def open_mode(page, url: str, mode: str, timeout_s: float = 120) -> None:
    page.goto(f"{url}?mode={mode}")
    page.wait_for_function("document.body.dataset.app === 'ready' || document.body.dataset.app === 'error'",
                           timeout=timeout_s * 1000)
    assert page.evaluate("document.body.dataset.app") == "ready", page.inner_text("#status")
    assert page.evaluate("document.body.dataset.engineMode") == mode


def wait_image_ready(page, timeout_s: float = 120) -> int:
    page.wait_for_function("document.body.dataset.embedding === 'ready' || document.body.dataset.embedding === 'error'",
                           timeout=timeout_s * 1000)
    assert page.evaluate("document.body.dataset.embedding") == "ready", page.inner_text("#status")
    return int(page.evaluate("document.body.dataset.engineImage"))


def page_errors(page) -> list[str]:
    # onnxruntime-web prints its graph-optimiser warnings on console.error: not the page's errors.
    return [e for e in page.errors if "[W:onnxruntime" not in e]


def good_click(url: str, serve_id: str) -> tuple[float, float]:
    """A click whose single-click mask (random weights) is neither empty nor the whole image."""
    ref = ReferenceDecoder(url, serve_id)
    h, w = ref.orig_hw
    for fy, fx in [(0.3, 0.3), (0.7, 0.7), (0.5, 0.5), (0.2, 0.8), (0.8, 0.2), (0.4, 0.6)]:
        point = (round(fx * w) + 0.5, round(fy * h) + 0.5)
        mask, _, _ = ref.best_single_click(point)
        if 0.01 < mask.mean() < 0.99:
            return point
    pytest.fail("every candidate click gives an empty or full mask with these random weights")


def test_assisted_accept_stores_clicks_and_seconds_then_model_round(engine_server):
    url, project = engine_server["url"], engine_server["project"]
    store = project.store
    with chromium_page() as page:
        open_mode(page, url, "assisted")
        image_id = wait_image_ready(page)
        image = page.evaluate("window.__samkitEngine.image()")
        hw = (image["height"], image["width"])
        page.keyboard.press("h")  # no hover preview: only clicks decode
        point = good_click(url, image["annotator_image_id"])
        page.mouse.click(*image_to_page(page, *point, hw))
        wait_decodes(page, "click", 1)
        time.sleep(0.3)  # the annotator looks at the mask before accepting
        page.keyboard.press("a")
        page.wait_for_selector("#engine-masks li.engine-mask[data-state='accepted']")
        masks = store.masks(image_id, stage=1)
        assert len(masks) == 1
        m = masks[0]
        assert (m.clicks, m.source, m.state, m.round) == (1, "annotator:alice", "accepted", 0)
        assert 0.3 <= m.seconds < 60
        assert m.area > 0 and m.rle["size"] == list(hw)

        # N finishes the image in stage 1 and opens the next one from the queue.
        page.keyboard.press("n")
        page.wait_for_function("(id) => document.body.dataset.engineImage !== String(id)", arg=image_id)
        assert 1 in store.image(image_id).done_stages
        second = wait_image_ready(page)
        assert second != image_id

        # `samkit engine retrain` adopts round 1: the page reloads decoder + embedding, no restart.
        serve_id = page.evaluate("window.__samkitEngine.image().annotator_image_id")
        before = httpx.get(f"{url}api/images/{serve_id}/embedding").content
        assert page.evaluate("window.__samkitEngine.modelLoads()") == 1
        adopt_round(project, 1, seed=7)
        page.wait_for_function("document.body.dataset.modelRound === '1'", timeout=120_000)
        assert wait_image_ready(page) == second
        after = httpx.get(f"{url}api/images/{serve_id}/embedding").content
        assert before != after, "the embedding was not recomputed with the adopted model"
        assert httpx.get(f"{url}api/engine/session").json()["model_round"] == 1
        # A mask accepted now records round 1.
        page.mouse.click(*image_to_page(page, *good_click(url, serve_id), hw))
        page.keyboard.press("a")
        page.wait_for_selector("#engine-masks li.engine-mask[data-state='accepted']")
        assert [x.round for x in store.masks(second, stage=1)] == [1]
        assert page.evaluate("window.__samkitEngine.modelLoads()") == 2  # decoder reloaded once
        assert not page_errors(page), page_errors(page)


def test_semi_automatic_reject_accept_and_conflict(engine_server):
    url, project = engine_server["url"], engine_server["project"]
    store = project.store
    *others, last = store.images()
    for row in others:  # done in stage 2 by someone else: the page gets the last image (no stage-1 masks)
        store.finish_image(row.id, 2, "bob")
    first = last.id
    p1, p2 = add_proposals(project, first)
    with chromium_page() as page:
        open_mode(page, url, "semi")
        assert wait_image_ready(page) == first
        hw = (store.image(first).height, store.image(first).width)
        page.keyboard.press("h")
        page.wait_for_selector(f"#engine-masks li[data-mask-id='{p1.id}'][data-state='proposed']")
        unlabeled = float(page.evaluate("document.body.dataset.unlabeled"))
        standing = [m.mask() for m in store.masks(first) if m.state in ("accepted", "proposed")]  # stage 1's too
        assert unlabeled == pytest.approx(1 - np.logical_or.reduce(standing).mean(), abs=1e-3)
        assert overlay_pixels(page, HATCH_RGB, tol=20) > 0

        # One click on a proposal rejects it (stored at once, version + 1).
        ys, xs = np.nonzero(p1.mask())
        page.mouse.click(*image_to_page(page, float(xs.mean()), float(ys.mean()), hw))
        page.wait_for_selector(f"#engine-masks li[data-mask-id='{p1.id}'][data-state='rejected']")
        assert store.mask(p1.id).state == "rejected" and store.mask(p1.id).version == 2
        assert float(page.evaluate("document.body.dataset.unlabeled")) > unlabeled  # its pixels are unlabeled again

        # Another annotator rejects p2 meanwhile: N answers 409, the page shows it and reloads the image.
        store.set_mask_state(p2.id, "rejected", expected_version=1)
        page.keyboard.press("n")
        page.wait_for_function("document.body.dataset.conflicts === '1'")
        assert "another annotator" in page.inner_text("#status")
        assert 2 not in store.image(first).done_stages
        page.wait_for_selector(f"#engine-masks li[data-mask-id='{p2.id}'][data-state='rejected']")

        # Restore p2 from the list, then N accepts it and finishes the image.
        page.click(f"#engine-masks li[data-mask-id='{p2.id}'] button.toggle")
        page.wait_for_selector(f"#engine-masks li[data-mask-id='{p2.id}'][data-state='proposed']")
        page.keyboard.press("n")
        page.wait_for_function("(id) => document.body.dataset.engineImage !== String(id)", arg=first)
        assert store.mask(p2.id).state == "accepted" and store.mask(p1.id).state == "rejected"
        assert 2 in store.image(first).done_stages
        errors = [e for e in page_errors(page) if "409" not in e]  # the browser logs the refused request
        assert not errors, errors


def test_review_accept_reject_and_rate(engine_server):
    url, project = engine_server["url"], engine_server["project"]
    add_automatic_masks(project, n=5)
    with chromium_page() as page:
        open_mode(page, url, "review")
        page.wait_for_function("document.body.dataset.reviewMask && document.body.dataset.reviewMask !== 'none'")
        for key in ["a", "r", "r"]:
            shown = page.evaluate("document.body.dataset.reviewMask")
            page.keyboard.press(key)
            page.wait_for_function("(m) => document.body.dataset.reviewMask !== m", arg=shown)
        assert project.store.review_stats() == {"reviewed": 3, "rejected": 2, "rejection_rate": pytest.approx(2 / 3)}
        assert float(page.get_attribute("#review-rate", "data-rejection-rate")) == pytest.approx(2 / 3)
        assert "66.7%" in page.inner_text("#review-rate")
        assert not page_errors(page), page_errors(page)
