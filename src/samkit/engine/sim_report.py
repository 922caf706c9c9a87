"""The simulation's per-round table (markdown) and plot (clicks/mask, masks/image, held-out mIoU)."""

from __future__ import annotations

from pathlib import Path


def _f(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown_table(report: dict) -> str:
    k = report["eval_clicks"]
    lines = [f"| round | stage | images | masks | masks/image | clicks/mask | sim. s/mask | review rejected | "
             f"held-out mIoU 1 click (before -> after retrain) | {k} clicks (before -> after) | adopted |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rounds"]:
        rate = r["review_rejection_rate"]
        lines.append(
            f"| {r['round']} | {r['stage']} | {r['images']} | {r['masks']} | {_f(r['masks_per_image'])} | "
            f"{_f(r['clicks_per_mask'])} | {_f(r['seconds_per_mask'], 1)} | "
            f"{'-' if rate is None else format(rate, '.0%')} | "
            f"{_f(r['miou_1click_before'], 3)} -> {_f(r['miou_1click_after'], 3)} | "
            f"{_f(r[f'miou_{k}click_before'], 3)} -> {_f(r[f'miou_{k}click_after'], 3)} | "
            f"{'yes' if r['adopted'] else 'no'} |")
    return "\n".join(lines)


def model_curve(report: dict, key: str) -> list[float | None]:
    """Held-out mIoU of the project's model in use at the start of round 1..R, and at the end."""
    rounds = report["rounds"]
    if not rounds:
        return []
    vals = [rounds[0][f"{key}_before"]]
    for r in rounds:
        vals.append(r[f"{key}_after"] if r["adopted"] else vals[-1])
    return vals


def plot(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = report["rounds"]
    xs = [r["round"] for r in rounds]
    labels = [f"{r['round']}\n(stage {r['stage']})" for r in rounds]
    k = report["eval_clicks"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].bar(xs, [r["clicks_per_mask"] or 0 for r in rounds], color="#4477aa")
    axes[0].set_title("clicks per mask")
    axes[1].bar(xs, [r["masks_per_image"] for r in rounds], color="#228833")
    axes[1].set_title("masks per image")
    for ax in axes[:2]:
        ax.set_xticks(xs, labels)
    mx = list(range(len(rounds) + 1))
    for key, name, style in (("miou_1click", "1 click", "o-"), (f"miou_{k}click", f"{k} clicks", "s-")):
        ys = model_curve(report, key)
        axes[2].plot(mx, [y if y is not None else float("nan") for y in ys], style, label=name)
    axes[2].set_xticks(mx, ["start"] + [f"after {x}" for x in xs])
    axes[2].set_title("held-out mIoU of the adopted model")
    axes[2].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
