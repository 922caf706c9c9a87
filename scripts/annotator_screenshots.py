"""Take the annotator screenshots in docs/img/ with the real page in Chromium (headless).

    PYTHONPATH=src:tests /work/venv/bin/python scripts/annotator_screenshots.py [--model tiny]

The server runs a model with random weights (no trained SAM weights ship with samkit's tests), so the
masks are the decoder's honest output for random weights; with a real checkpoint they follow objects.
The scene is synthetic (drawn here), so the pictures carry no third-party photo.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from browser.harness import chromium_page, image_to_page, missing_requirements, open_app, open_image, serve_app, wait_decodes  # noqa: E402

OUT = REPO / "docs" / "img"


def draw_scene(path: Path, hw: tuple[int, int] = (600, 900)) -> Path:
    """A simple outdoor scene: sky, hills, a house, a tree, a sun, a ball."""
    h, w = hw
    yy = np.linspace(0, 1, h)[:, None, None]
    sky = (np.array([70, 130, 200]) * (1 - yy) + np.array([190, 220, 245]) * yy).astype(np.uint8)
    img = Image.fromarray(np.broadcast_to(sky, (h, w, 3)).copy())
    d = ImageDraw.Draw(img)
    d.ellipse((w * 0.78, h * 0.08, w * 0.9, h * 0.26), fill=(255, 214, 90))
    d.polygon([(0, h * 0.62), (w * 0.3, h * 0.48), (w * 0.62, h * 0.6), (w, h * 0.5), (w, h), (0, h)], fill=(92, 150, 80))
    d.rectangle((0, h * 0.78, w, h), fill=(120, 170, 90))
    d.rectangle((w * 0.14, h * 0.42, w * 0.42, h * 0.78), fill=(200, 120, 90))
    d.polygon([(w * 0.11, h * 0.43), (w * 0.28, h * 0.26), (w * 0.45, h * 0.43)], fill=(140, 50, 50))
    d.rectangle((w * 0.25, h * 0.6, w * 0.31, h * 0.78), fill=(90, 60, 40))
    d.rectangle((w * 0.17, h * 0.5, w * 0.22, h * 0.58), fill=(230, 240, 250))
    d.rectangle((w * 0.34, h * 0.5, w * 0.39, h * 0.58), fill=(230, 240, 250))
    d.rectangle((w * 0.63, h * 0.5, w * 0.66, h * 0.8), fill=(100, 70, 45))
    d.ellipse((w * 0.55, h * 0.3, w * 0.74, h * 0.58), fill=(50, 120, 55))
    d.ellipse((w * 0.78, h * 0.78, w * 0.86, h * 0.9), fill=(230, 60, 60))
    img = img.filter(ImageFilter.GaussianBlur(0.8))
    noise = np.random.default_rng(0).normal(0, 1.5, (h, w, 3))  # a little texture; PNGs stay small
    Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8)).save(path)
    return path


def shrink_png(path: Path) -> None:
    """256-colour palette PNG: the UI is flat colours, so this keeps it sharp at a third of the size."""
    img = Image.open(path).convert("RGB")
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", help="samkit preset (random weights)")
    args = parser.parse_args()
    reason = missing_requirements()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    import httpx
    import torch

    from samkit.build import build_sam
    from samkit.serve.app import create_app

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="samkit-shots-") as tmp:
        folder = Path(tmp)
        draw_scene(folder / "garden.png")
        draw_scene(folder / "street.png", hw=(480, 720))
        torch.manual_seed(0)
        model = build_sam(args.model)
        with serve_app(create_app(folder, model)) as url, chromium_page(viewport=(1440, 860)) as page:
            open_app(page, url, timeout_s=300)
            rec = next(r for r in httpx.get(url + "api/images").json() if r["file_name"] == "garden.png")
            hw = (rec["height"], rec["width"])
            open_image(page, rec["id"])
            page.keyboard.press("h")

            def click(x, y, button="left"):
                n = page.evaluate("window.__samkitStats.decodes.filter(d => d.kind === 'click').length")
                page.mouse.click(*image_to_page(page, x, y, hw), button=button)
                wait_decodes(page, "click", n + 1)

            def accept(category):
                n = page.locator("li.object").count()
                page.fill("#category-input", category)
                page.press("#category-input", "Enter")
                page.keyboard.press("a")
                page.wait_for_function(
                    "(n) => document.querySelectorAll('li.object[data-annotation-id]').length === n", arg=n + 1)

            w, h = hw[1], hw[0]
            click(0.28 * w, 0.6 * h)
            accept("house")
            click(0.64 * w, 0.42 * h)
            click(0.645 * w, 0.7 * h)
            accept("tree")
            click(0.84 * w, 0.17 * h)
            page.wait_for_timeout(300)
            page.mouse.move(5, 5)
            page.screenshot(path=str(OUT / "annotator.png"))

            page.keyboard.press("Escape")
            page.keyboard.press("o")
            page.mouse.move(*image_to_page(page, 0.12 * w, 0.25 * h, hw))
            page.mouse.down()
            page.mouse.move(*image_to_page(page, 0.47 * w, 0.8 * h, hw), steps=6)
            page.mouse.up()
            page.wait_for_timeout(200)
            click(0.28 * w, 0.7 * h, button="right")
            page.wait_for_timeout(300)
            page.mouse.move(5, 5)
            page.screenshot(path=str(OUT / "annotator_box.png"))

            page.keyboard.press("?")
            page.wait_for_timeout(200)
            page.screenshot(path=str(OUT / "annotator_help.png"))
    for name in ("annotator.png", "annotator_box.png", "annotator_help.png"):
        shrink_png(OUT / name)
        print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
