"""Training curves from a run's metrics.jsonl: loss and validation mIoU vs step, mIoU vs clicks."""

from __future__ import annotations

import json
from pathlib import Path


def read_metrics(path: str | Path) -> tuple[list[dict], list[dict]]:
    """(train records, val records) of a metrics.jsonl, in file order."""
    train, val = [], []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            (val if rec.get("kind") == "val" else train).append(rec)
    return train, val


def plot_run(metrics_path: str | Path, out_png: str | Path, title: str = "") -> Path:
    """Three panels: training loss (raw + moving average), validation mIoU (1 point, box, 5 points)
    vs step, and validation mIoU vs number of clicks at the first and the last validation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = read_metrics(metrics_path)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    steps = [r["step"] for r in train]
    loss = [r["loss"] for r in train]
    axes[0].plot(steps, loss, color="0.75", lw=0.8, label="loss")
    k = max(1, len(loss) // 20)
    smooth = [sum(loss[max(0, i - k + 1):i + 1]) / len(loss[max(0, i - k + 1):i + 1]) for i in range(len(loss))]
    axes[0].plot(steps, smooth, color="C0", label=f"moving mean ({k} logs)")
    axes[0].set(xlabel="step", ylabel="training loss", title="loss")
    axes[0].legend()
    vs = [r["step"] for r in val]
    n_clicks = len(val[0]["miou_clicks"]) if val else 0
    for key, label in (("miou_1pt", "1 point"), ("miou_box", "box"), (f"miou_{n_clicks}pt", f"{n_clicks} points")):
        axes[1].plot(vs, [r[key] for r in val], marker="o", ms=3, label=label)
    axes[1].set(xlabel="step", ylabel="validation mIoU", title="held-out mIoU vs step")
    axes[1].legend()
    if val:
        clicks = list(range(1, n_clicks + 1))
        for rec, style in ((val[0], "--"), (val[len(val) // 2], ":"), (val[-1], "-")):
            axes[2].plot(clicks, rec["miou_clicks"], style, marker="o", label=f"step {rec['step']}")
        axes[2].set(xlabel="clicks", ylabel="validation mIoU", title="mIoU vs clicks", xticks=clicks)
        axes[2].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
