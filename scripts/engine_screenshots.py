"""Take the data engine screenshots in docs/img/engine_*.png with the real page in Chromium (headless).

    PYTHONPATH=src:tests python scripts/engine_screenshots.py

An engine project over synthetic scenes (scripts/annotator_screenshots.py draws them) with samkit's
built-in SAM (`--model builtin`): assisted mode after two accepted objects, semi-automatic mode on
the stage-2 pre-fill (samkit.engine.prefill, strict AMG) with one proposal rejected, and review mode
on stage-3 masks (samkit.engine.auto_stage) after two verdicts. Runs in a few minutes on a CPU.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "scripts")]

from annotator_screenshots import OUT, draw_scene, shrink_png  # noqa: E402
from browser.harness import chromium_page, image_to_page, missing_requirements, serve_app, wait_decodes  # noqa: E402

VIEWPORT = (1440, 860)


def open_mode(page, url: str, mode: str) -> None:
    page.goto(f"{url}?mode={mode}")
    page.wait_for_function("document.body.dataset.app === 'ready'", timeout=600_000)


def wait_ready(page) -> dict:
    page.wait_for_function("['ready', 'error'].includes(document.body.dataset.embedding)", timeout=600_000)
    return page.evaluate("window.__samkitEngine.image()")


def main() -> int:
    reason = missing_requirements()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    from samkit.engine.auto_stage import run_auto
    from samkit.engine.prefill import run_prefill
    from samkit.engine.project import init_project
    from samkit.engine.web_app import create_engine_app

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="samkit-engine-shots-") as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        draw_scene(images / "a_garden.png")
        draw_scene(images / "b_street.png", hw=(480, 720))
        project = init_project(Path(tmp) / "proj", images, model="builtin")
        garden, street = project.store.images()
        app = create_engine_app(project, "alice")
        with serve_app(app) as url, chromium_page(viewport=VIEWPORT) as page:
            # Assisted: two objects accepted on the first image of the queue, a third being clicked.
            open_mode(page, url, "assisted")
            image = wait_ready(page)
            hw = (image["height"], image["width"])
            h, w = hw
            page.keyboard.press("h")

            def click(x, y):
                n = page.evaluate("window.__samkitStats.decodes.filter(d => d.kind === 'click').length")
                page.mouse.click(*image_to_page(page, x, y, hw))
                wait_decodes(page, "click", n + 1)

            def accept():
                n = page.locator("#engine-masks li.engine-mask").count()
                page.keyboard.press("a")
                page.wait_for_function("(n) => document.querySelectorAll('#engine-masks li.engine-mask').length === n",
                                       arg=n + 1)

            click(0.28 * w, 0.6 * h)
            page.wait_for_timeout(900)
            accept()
            click(0.64 * w, 0.42 * h)
            click(0.645 * w, 0.7 * h)
            page.wait_for_timeout(1400)
            accept()
            click(0.84 * w, 0.17 * h)
            page.mouse.move(5, 5)
            page.wait_for_timeout(300)
            page.screenshot(path=str(OUT / "engine_assisted.png"))

            # Semi-automatic: the model's strict pre-fill on the garden; the largest proposal rejected.
            # The built-in model's predicted IoUs are low: its strict pre-fill keeps nothing on this
            # synthetic scene, so the pre-fill runs with stage 3's thresholds (no crops) here.
            from samkit.engine.amg_settings import model_thresholds

            loose = {**model_thresholds(project.load_model()), "points_per_side": 12}  # a readable number of proposals
            print(run_prefill(project, overrides=loose, image_ids=[garden.id], progress=False), file=sys.stderr)
            open_mode(page, url, "semi")
            wait_ready(page)
            proposals = [m for m in project.store.masks(garden.id, stage=2) if m.state == "proposed"]
            if proposals:
                biggest = max(proposals, key=lambda m: m.area)
                page.click(f"#engine-masks li[data-mask-id='{biggest.id}'] button.toggle")
                page.wait_for_selector(f"#engine-masks li[data-mask-id='{biggest.id}'][data-state='rejected']")
            page.evaluate("document.getElementById('images-panel').scrollTop = 0")
            page.mouse.move(5, 5)
            page.wait_for_timeout(300)
            page.screenshot(path=str(OUT / "engine_semi.png"))

            # Review: automatic masks of the street scene, two verdicts given.
            print(run_auto(project, image_ids=[street.id], progress=False), file=sys.stderr)
            open_mode(page, url, "review")
            page.wait_for_function("document.body.dataset.reviewMask !== undefined", timeout=120_000)
            for key in ("a", "r"):
                shown = page.evaluate("document.body.dataset.reviewMask")
                if shown == "none":
                    break
                page.keyboard.press(key)
                page.wait_for_function("(m) => document.body.dataset.reviewMask !== m", arg=shown)
            page.wait_for_timeout(300)
            page.screenshot(path=str(OUT / "engine_review.png"))
            errors = [e for e in page.errors if "[W:onnxruntime" not in e]
            if errors:
                print("page errors:", *errors, sep="\n", file=sys.stderr)
    for name in ("engine_assisted.png", "engine_semi.png", "engine_review.png"):
        shrink_png(OUT / name)
        print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
