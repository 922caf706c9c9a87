"""Pictures and the before/after table of the SAM 2 fine-tuning demo (scripts/finetune_demo/run.sh).

    python scripts/finetune_demo/report.py --run RUN_DIR --clicks EVAL_DIR --box EVAL_DIR \
        --before MODEL --after MODEL --data TEST_FOLDER [--img-prefix docs/img/sam2_finetune]

Reads the fine-tuning run's metrics.jsonl and the two `samkit eval` results (clicks and box, each
holding the "before" and "after" models) and writes:
- <prefix>_curves.png: training loss, held-out mIoU (1 point, box, 5 points) vs step, mIoU vs clicks;
- <prefix>_miou_vs_clicks.png: the clicks evaluation's mIoU after 1..5 clicks, before and after;
- <prefix>_overlays.png: held-out cells segmented from one click and from the GT box, before and
  after (a colour per cell = prediction, yellow = GT outline, + = the click);
- RUN_DIR/../table.md (also printed): mIoU at 1/3/5 clicks and box, before, after, difference.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

BEFORE, AFTER = "before", "after"


def load_results(eval_dir: Path) -> dict:
    return json.loads((eval_dir / "results.json").read_text())


def table(clicks: dict, box: dict) -> str:
    """Markdown: one row per model, mIoU (highest-score mask) after 1/3/5 clicks, tight and noisy box."""
    rows = ["| model | objects | 1 click | 3 clicks | 5 clicks | box (GT) | box (noisy) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    values = {}
    for label in (BEFORE, AFTER):
        c = clicks["models"][label]["summary"]["all"]
        b = box["models"][label]["summary"]["all"]
        if c["count"] != b["count"]:
            raise SystemExit(f"clicks and box evaluations measured different objects ({c['count']} vs {b['count']})")
        m = c["miou_score"]
        values[label] = [m[0], m[2], m[4], b["miou_gt_box"], b["miou_noisy_box"]]
        rows.append(f"| {label} | {c['count']} | " + " | ".join(f"{v:.3f}" for v in values[label]) + " |")
    delta = [a - b for a, b in zip(values[AFTER], values[BEFORE])]
    rows.append("| difference | | " + " | ".join(f"{d:+.3f}" for d in delta) + " |")
    return "\n".join(rows)


def run_summary(run_dir: Path) -> str:
    from samkit.training.curves import read_metrics

    train, val = read_metrics(run_dir / "metrics.jsonl")
    first, last = val[0], val[-1]
    return (f"{max(train[-1]['step'], last['step'])} steps, the last logged at {train[-1]['elapsed_s'] / 60:.1f} min; "
            f"run validation "
            f"({last['num_masks']} Test objects): 1 point {first['miou_1pt']:.3f} -> {last['miou_1pt']:.3f}, "
            f"box {first['miou_box']:.3f} -> {last['miou_box']:.3f}, 5 points {first['miou_5pt']:.3f} -> "
            f"{last['miou_5pt']:.3f} (step {first['step']} -> {last['step']})")


def _outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """The pixels of `mask` within `width` px of its border."""
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask, iterations=width)


def _paint(image: np.ndarray, preds: list[np.ndarray], gts: list[np.ndarray]) -> np.ndarray:
    """Each prediction filled in its cell's colour (half transparent), each GT outlined in yellow."""
    import matplotlib

    out = image.astype(np.float32).copy()
    for k, pred in enumerate(preds):
        colour = np.array(matplotlib.colormaps["tab10"](k % 10)[:3], np.float32) * 255
        out[pred] = 0.45 * out[pred] + 0.55 * colour
    for gt in gts:
        out[_outline(gt)] = (255, 230, 0)
    return out.clip(0, 255).astype(np.uint8)


def segment(predictor, objects, prompt: str) -> tuple[list[np.ndarray], list[float], list[tuple[int, int]]]:
    """(masks, IoUs, clicks) for each GT mask of `objects` with one click or the tight GT box."""
    from samkit.evaluation.click_oracle import first_click
    from samkit.evaluation.interactive import box_from_mask, run_box_prompt, run_click_trajectory

    masks, ious, clicks = [], [], []
    for gt in objects:
        if prompt == "click":
            traj = run_click_trajectory(predictor, gt, max_clicks=1, multimask="first", selection="score")
            masks.append(np.asarray(traj.final_mask, bool))
            ious.append(traj.ious[-1])
            c = first_click(gt)
            clicks.append((c.x, c.y))
        else:
            iou, mask = run_box_prompt(predictor, gt, box_from_mask(gt))
            masks.append(mask)
            ious.append(iou)
    return masks, ious, clicks


def overlays(before: str, after: str, data: Path, out_png: Path, num_images: int = 2, cells: int = 6,
             min_area_px: int = 400) -> Path:
    """Rows: held-out images; columns: GT, before/after 1 click, before/after box; `cells` cells
    per image, evenly spaced by size among those of >= min_area_px, so small and large ones show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from samkit.data.specs import DatasetSpec, build_dataset
    from samkit.evaluation.model_specs import build_predictor, parse_model_spec
    from samkit.evaluation.record_images import records_as_images

    images = records_as_images(build_dataset(DatasetSpec(str(data), "labpics")), min_area_px=min_area_px)
    images = [images[i] for i in np.linspace(0, len(images) - 1, num_images).round().astype(int)]
    predictors = {label: build_predictor(parse_model_spec(f"{label}={path}"))
                  for label, path in ((BEFORE, before), (AFTER, after))}
    cols = ["ground truth", "before, 1 click", "after, 1 click", "before, box", "after, box"]
    fig, axes = plt.subplots(len(images), len(cols), figsize=(3.2 * len(cols), 3.4 * len(images)), squeeze=False)
    for row, image in zip(axes, images):
        rgb = image.load()
        objs = sorted(image.objects, key=lambda o: -o.area_px)
        picked = [objs[i].mask() for i in np.linspace(0, len(objs) - 1, min(cells, len(objs))).round().astype(int)]
        row[0].imshow(_paint(rgb, picked, []))
        row[0].set_title(f"{image.image_id}: {len(picked)} cells", fontsize=9)
        panels = ((BEFORE, "click"), (AFTER, "click"), (BEFORE, "box"), (AFTER, "box"))
        for col, (label, prompt) in enumerate(panels, 1):
            predictor = predictors[label]
            predictor.set_image(rgb)
            masks, ious, clicks = segment(predictor, picked, prompt)
            row[col].imshow(_paint(rgb, masks, picked))
            for x, y in clicks:
                row[col].plot(x, y, "+", color="red", ms=10, mew=2.5)
            row[col].set_title(f"{cols[col]}: mIoU {np.mean(ious):.2f}", fontsize=9)
        for ax in row:
            ax.set_axis_off()
    fig.suptitle("held-out ISBI-2012 EM slices: colour = prediction (one per cell), yellow = GT outline, "
                 "+ = the click", fontsize=10)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--clicks", type=Path, required=True)
    p.add_argument("--box", type=Path, required=True)
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--img-prefix", default="docs/img/sam2_finetune")
    args = p.parse_args(argv)
    from samkit.training.curves import plot_run

    prefix = Path(args.img_prefix)
    plot_run(args.run / "metrics.jsonl", f"{prefix}_curves.png", "SAM 2 built-in fine-tuned on ISBI-2012 EM (Train)")
    shutil.copyfile(args.clicks / "miou_vs_clicks.png", f"{prefix}_miou_vs_clicks.png")
    overlays(args.before, args.after, args.data, Path(f"{prefix}_overlays.png"))
    text = table(load_results(args.clicks), load_results(args.box)) + "\n\n" + run_summary(args.run) + "\n"
    (args.run.parent / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
