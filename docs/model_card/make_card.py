"""Tables and curves of docs/model-card.md from the evaluation folder and the training runs.

Usage (repository root): python docs/model_card/make_card.py [EVAL_DIR=eval/model_card ...]
    [--mae runs/default_mae] [--sam runs/default_sam] [--scratch runs/ablation_scratch]
    [--gpu-run LABEL=METRICS_JSONL[@OFFSET_IMAGES] ...]   (v3's GPU runs: training curves)
Several EVAL_DIRs (the same evaluations run for different models) are merged, models in order.
Prints the markdown tables; writes docs/img/model_card_*.png (plots only: no dataset pixels).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from samkit.evaluation.report_plots import plot_miou_vs_clicks
from samkit.training.curves import read_metrics

DOCS = Path(__file__).resolve().parents[1]
CLICK_SETS = [("coco_clicks", "COCO photos, things"), ("panoptic_clicks", "COCO panoptic, things + stuff"),
              ("davis_clicks", "DAVIS frames"), ("dsb_clicks", "DSB 2018 nuclei"), ("isbi_clicks", "ISBI 2012 EM cells"),
              ("ccp_clicks", "Clothing Co-Parsing people"), ("dsb2018_clicks", "DSB 2018 stage 1 nuclei")]


def merged_results(eval_dirs: list[Path], name: str) -> dict | None:
    """results.json of evaluation `name` with the models of every folder that has it, in order."""
    found = [json.loads((d / name / "results.json").read_text()) for d in eval_dirs if (d / name / "results.json").is_file()]
    if not found:
        return None
    merged = dict(found[0], models={})
    for res in found:
        if res["num_items"] != found[0]["num_items"]:
            raise SystemExit(f"{name}: the folders evaluated different images ({res['num_items']} vs {found[0]['num_items']})")
        merged["models"].update(res["models"])
    return merged


def click_table(eval_dirs: list[Path]) -> str:
    rows = ["| data | model | objects | mIoU@1 | mIoU@3 | mIoU@5 | mIoU@10 | NoC@85 | NoC@90 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, label in CLICK_SETS:
        res = merged_results(eval_dirs, name)
        if res is None:
            continue
        for model, r in res["models"].items():
            s = r["summary"]["all"]
            m = s["miou_score"]
            rows.append(f"| {label} ({res['num_items']} images) | {model} | {s['count']} | {m[0]:.3f} | {m[2]:.3f} | "
                        f"{m[4]:.3f} | {m[9]:.3f} | {s['noc85_score']:.2f} | {s['noc90_score']:.2f} |")
    return "\n".join(rows)


def box_table(eval_dirs: list[Path]) -> str:
    res = merged_results(eval_dirs, "coco_box")
    if res is None:
        return ""
    rows = ["| model | objects | mIoU (GT box) | mIoU (noisy box) |", "| --- | --- | --- | --- |"]
    for model, r in res["models"].items():
        s = r["summary"]["all"]
        rows.append(f"| {model} | {s['count']} | {s['miou_gt_box']:.3f} | {s['miou_noisy_box']:.3f} |")
    return "\n".join(rows)


def compute_minutes(train: list[dict]) -> list[float]:
    """Cumulative single-thread optimiser-step time (validation excluded), in minutes, per log."""
    out, total, last_step = [], 0.0, 0
    for r in train:
        total += r["step_time_s"] * (r["step"] - last_step)  # a log every k steps stands for k steps
        last_step = r["step"]
        out.append(total / 60)
    return out


def ablation_plot(mae: Path, sam: Path, scratch: Path, out_png: Path) -> str:
    """Held-out 5-click and 1-click mIoU against training compute: MAE (+ SAM stage) vs from scratch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mae_train, mae_val = read_metrics(mae / "metrics.jsonl")
    sam_train, sam_val = read_metrics(sam / "metrics.jsonl")
    scr_train, scr_val = read_metrics(scratch / "metrics.jsonl")
    mae_min = compute_minutes(mae_train)[-1]

    def at_steps(train, val, offset):
        mins = dict(zip([r["step"] for r in train], compute_minutes(train)))
        mins[0] = 0.0
        return [offset + mins.get(r["step"], 0.0) for r in val]

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    axes[0].plot(compute_minutes(mae_train), [r["loss"] for r in mae_train], color="0.6", lw=0.8, label="train")
    axes[0].plot(at_steps(mae_train, mae_val, 0), [r["mae_val_loss"] for r in mae_val], "o-", label="held-out")
    axes[0].set(xlabel="compute (min of 1-thread step time)", ylabel="masked-patch MSE (normalised pixels)",
                title="MAE pre-training")
    axes[0].legend()
    for key, style in (("miou_5pt", "-"), ("miou_1pt", "--")):
        axes[1].plot(at_steps(sam_train, sam_val, mae_min), [r[key] for r in sam_val], style, marker="o", color="C0",
                     label=f"MAE then SAM, {key[5:]}")
        axes[1].plot(at_steps(scr_train, scr_val, 0), [r[key] for r in scr_val], style, marker="s", color="C3",
                     label=f"SAM from scratch, {key[5:]}")
    axes[1].axvline(mae_min, color="0.7", lw=0.8)
    axes[1].set(xlabel="compute (min of 1-thread step time, MAE stage included)", ylabel="held-out mIoU",
                title="MAE vs from scratch at equal compute")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    sam_min = compute_minutes(sam_train)[-1]
    scr_min = compute_minutes(scr_train)[-1]
    return (f"compute: MAE {mae_min:.1f} min ({mae_train[-1]['step']} steps) + SAM {sam_min:.1f} min "
            f"({sam_train[-1]['step']} steps) = {mae_min + sam_min:.1f} min; from scratch {scr_min:.1f} min "
            f"({scr_train[-1]['step']} steps). Final held-out 5-click mIoU (training validator): MAE "
            f"{sam_val[-1]['miou_5pt']:.3f}, scratch {scr_val[-1]['miou_5pt']:.3f}.")


def ablation_table(sam: Path, scratch: Path) -> str:
    """Held-out mIoU (training validator) of both arms at the same SAM-stage step."""
    _, sam_val = read_metrics(sam / "metrics.jsonl")
    _, scr_val = read_metrics(scratch / "metrics.jsonl")
    by_step = {r["step"]: r for r in scr_val}
    rows = ["| SAM-stage step | MAE then SAM: 1 pt / box / 5 pts | from scratch: 1 pt / box / 5 pts |",
            "| --- | --- | --- |"]
    fmt = lambda r: f"{r['miou_1pt']:.3f} / {r['miou_box']:.3f} / {r['miou_5pt']:.3f}" if r else "-"
    for r in sam_val:
        rows.append(f"| {r['step']} | {fmt(r)} | {fmt(by_step.get(r['step']))} |")
    last = scr_val[-1]
    if last["step"] not in {r["step"] for r in sam_val}:
        rows.append(f"| {last['step']} (scratch's end: equal compute) | - | {fmt(last)} |")
    return "\n".join(rows)


def gpu_runs_plot(runs: list[str], out_png: Path) -> str:
    """Training curves of GPU runs: the first and last round's IoU (the model's own prompts, on
    training masks; 100-image running mean) against images seen. LABEL=PATH@OFFSET starts a run
    that continued another at OFFSET images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    lines = []
    for k, spec in enumerate(runs):
        label, rest = spec.split("=", 1)
        path, _, offset = rest.partition("@")
        train, _ = read_metrics(path)
        seen = np.array([r["position"] for r in train], float) + float(offset or 0)
        for ax, key in zip(axes, ("iou_first_round", "iou_last_round")):
            y = np.array([r[key] for r in train])
            width = max(1, min(5, len(y) // 4))  # logs every 20 steps: 5 logs = 100 steps
            smooth = np.convolve(y, np.ones(width) / width, mode="valid")
            ax.plot(seen[width - 1:] / 1e3, smooth, color=f"C{k}", label=label)
        lines.append(f"{label}: {train[-1]['step']} steps, {seen[-1] / 1e3:.0f}k images, last first/last-round "
                     f"IoU {train[-1]['iou_first_round']:.3f} / {train[-1]['iou_last_round']:.3f}")
    axes[0].set(xlabel="training images seen (thousands)", ylabel="IoU on the training masks",
                title="first prompt (a click or a box)")
    axes[1].set(xlabel="training images seen (thousands)", title="after the corrective rounds")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_dirs", nargs="*", default=[Path("eval/model_card")], type=Path)
    ap.add_argument("--mae", default="runs/default_mae", type=Path)
    ap.add_argument("--sam", default="runs/default_sam", type=Path)
    ap.add_argument("--scratch", default="runs/ablation_scratch", type=Path)
    ap.add_argument("--gpu-run", action="append", default=[], help="LABEL=metrics.jsonl[@offset images]")
    args = ap.parse_args()
    img = DOCS / "img"
    for name, label in CLICK_SETS:
        res = merged_results(args.eval_dirs, name)
        if res is not None:
            summaries = {model: r["summary"] for model, r in res["models"].items()}
            plot_miou_vs_clicks(summaries, img / f"model_card_{name}.png", f"mIoU vs clicks ({label}, {res['num_items']} images)")
    print(click_table(args.eval_dirs), "\n")
    print(box_table(args.eval_dirs), "\n")
    if all((p / "metrics.jsonl").is_file() for p in (args.mae, args.sam, args.scratch)):
        print(ablation_plot(args.mae, args.sam, args.scratch, img / "model_card_ablation.png"), "\n")
        print(ablation_table(args.sam, args.scratch))
    if args.gpu_run:
        print(gpu_runs_plot(args.gpu_run, img / "model_card_gpu_runs.png"))


if __name__ == "__main__":
    main()
