"""Pictures and the before/after table of the SAM 2 fine-tuning demo (scripts/finetune_demo/run.sh).

    python scripts/finetune_demo/report.py --run RUN_DIR --clicks EVAL_DIR --box EVAL_DIR [--curve DIR] \
        [--second-clicks EVAL_DIR --second-box EVAL_DIR] --before MODEL --after MODEL --data TEST_FOLDER \
        [--img-prefix docs/img/sam2_finetune]

Reads the fine-tuning run's metrics.jsonl and the `samkit eval` results (clicks and box, each
holding the "before" and "after" models; optionally one per checkpoint in --curve) and writes:
- <prefix>_curves.png: training loss and IoU vs step, held-out mIoU vs step (every checkpoint),
  and mIoU after 1..5 clicks and the GT box, before and after;
- <prefix>_overlays.png: held-out cells segmented from one click and from the GT box, before and
  after (a colour per cell = prediction, yellow = GT outline, + = the click);
- RUN_DIR/../table.md (also printed): mIoU at 1/3/5 clicks and box, before, after, difference
  (a second table for --second-clicks / --second-box).
"""

from __future__ import annotations

import argparse
import json
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


def _moving_mean(values: list[float], k: int) -> list[float]:
    return [float(np.mean(values[max(0, i - k + 1):i + 1])) for i in range(len(values))]


def _eval_numbers(clicks: dict, box: dict, label: str) -> tuple[float, float, float, float]:
    """(mIoU after 1, 3, 5 clicks, mIoU from the GT box) of one model in a clicks and a box result."""
    m = clicks["models"][label]["summary"]["all"]["miou_score"]
    return m[0], m[2], m[4], box["models"][label]["summary"]["all"]["miou_gt_box"]


def eval_vs_step(curve_dir: Path | None, clicks: dict, box: dict, last_step: int) -> dict[int, tuple]:
    """step -> _eval_numbers: step 0 = "before", last_step = "after", the rest from curve_dir's
    step_XXXXXX_{clicks,box} evaluations (one model each)."""
    points = {0: _eval_numbers(clicks, box, BEFORE), last_step: _eval_numbers(clicks, box, AFTER)}
    for c_dir in sorted(curve_dir.glob("step_*_clicks")) if curve_dir and curve_dir.is_dir() else []:
        label = c_dir.name[:-len("_clicks")]
        b_dir = c_dir.with_name(f"{label}_box")
        if (c_dir / "results.json").is_file() and (b_dir / "results.json").is_file():
            points[int(label.split("_")[1])] = _eval_numbers(load_results(c_dir), load_results(b_dir), label)
    return dict(sorted(points.items()))


def curves(run_dir: Path, clicks: dict, box: dict, curve_dir: Path | None, out_png: Path) -> Path:
    """Three panels: training loss and training IoU (the final mask of each training object, after
    its corrective clicks) vs step; `samkit eval` mIoU vs step (every checkpoint; without them, the
    run's own validation); `samkit eval` mIoU vs clicks (and the GT box) before and after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from samkit.training.curves import read_metrics

    train, val = read_metrics(run_dir / "metrics.jsonl")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    steps = [r["step"] for r in train]
    k = max(1, len(train) // 15)
    loss = [r["loss"] for r in train]
    axes[0].plot(steps, loss, color="0.8", lw=0.8)
    axes[0].plot(steps, _moving_mean(loss, k), color="C0", label=f"loss (moving mean of {k} logs)")
    axes[0].set(xlabel="step", ylabel="training loss", title="training")
    twin = axes[0].twinx()
    twin.plot(steps, _moving_mean([r["iou_first_frame"] for r in train], k), color="C3", label="training IoU")
    twin.set_ylabel("training IoU (after the corrective clicks)")
    lines = axes[0].get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    axes[0].legend(lines, [h.get_label() for h in lines], loc="upper center", fontsize=8)
    count = clicks["models"][AFTER]["summary"]["all"]["count"]
    last_step = max(steps[-1], val[-1]["step"] if val else 0)
    points = eval_vs_step(curve_dir, clicks, box, last_step)
    if len(points) > 2 or not val:
        xs = list(points)
        for j, label in enumerate(("1 click", "3 clicks", "5 clicks", "GT box")):
            axes[1].plot(xs, [points[x][j] for x in xs], marker="o", ms=3, label=label)
        axes[1].set(title=f"samkit eval on Test ({count} cells)")
    else:
        n = len(val[0]["miou_clicks"])
        for key, label in (("miou_1pt", "1 point"), ("miou_box", "box"), (f"miou_{n}pt", f"{n} points")):
            axes[1].plot([r["step"] for r in val], [r[key] for r in val], marker="o", ms=3, label=label)
        axes[1].set(title=f"the run's validation ({val[0]['num_masks']} Test cells)")
    axes[1].set(xlabel="step", ylabel="mIoU")
    axes[1].legend(fontsize=8)
    for label, colour in ((BEFORE, "C1"), (AFTER, "C0")):
        m = clicks["models"][label]["summary"]["all"]["miou_score"]
        axes[2].plot(range(1, len(m) + 1), m, marker="o", color=colour, label=f"{label}: clicks")
        axes[2].plot([0], [box["models"][label]["summary"]["all"]["miou_gt_box"]], marker="s", ms=8, ls="",
                     color=colour, label=f"{label}: GT box")
    axes[2].set(xlabel="clicks (0 = the GT box)", ylabel="mIoU", xticks=range(0, 6), ylim=(0, 1),
                title=f"samkit eval on Test ({count} cells)")
    axes[2].legend(fontsize=8)
    fig.suptitle("built-in SAM 2 (sam2_cpu) fine-tuned on ISBI-2012 EM Train slices")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


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
    fig, axes = plt.subplots(len(images), len(cols), figsize=(3.2 * len(cols), 3.7 * len(images)), squeeze=False)
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
    from PIL import Image

    with Image.open(out_png) as im:  # EM texture makes a true-colour PNG ~1.4 MB; 256 colours keep it small
        im.convert("RGB").quantize(256).save(out_png, optimize=True)
    return out_png


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--clicks", type=Path, required=True)
    p.add_argument("--box", type=Path, required=True)
    p.add_argument("--curve", type=Path, help="folder of step_XXXXXX_{clicks,box} evaluations of the checkpoints")
    p.add_argument("--second-clicks", type=Path, help="optional second evaluation of both models, clicks")
    p.add_argument("--second-box", type=Path, help="... and its box evaluation")
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--img-prefix", default="docs/img/sam2_finetune")
    args = p.parse_args(argv)
    prefix = Path(args.img_prefix)
    clicks, box = load_results(args.clicks), load_results(args.box)
    curves(args.run, clicks, box, args.curve, Path(f"{prefix}_curves.png"))
    overlays(args.before, args.after, args.data, Path(f"{prefix}_overlays.png"))
    text = table(clicks, box) + "\n\n"
    if args.second_clicks and args.second_box:
        text += table(load_results(args.second_clicks), load_results(args.second_box)) + "\n\n"
    text += run_summary(args.run) + "\n"
    (args.run.parent / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
