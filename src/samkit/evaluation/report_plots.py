"""PNG pictures of evaluation results: mIoU vs clicks, mIoU vs attack budget, an attacked example,
J&F per video sequence.

matplotlib is imported inside each function with the non-interactive Agg backend, so importing
samkit.evaluation never needs a display or matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_miou_vs_clicks(summaries: dict[str, dict], path: Path, title: str = "mIoU vs clicks") -> Path:
    """One solid curve per model (highest-score mask) and a dashed one with the oracle mask."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for i, (label, s) in enumerate(summaries.items()):
        curve = s["all"].get("miou_score")
        if not curve:
            continue
        ks = np.arange(1, len(curve) + 1)
        color = f"C{i}"
        ax.plot(ks, curve, "-o", ms=3, color=color, label=f"{label}")
        if s["all"]["miou_oracle"] != curve:
            ax.plot(ks, s["all"]["miou_oracle"], "--", color=color, alpha=0.7, label=f"{label} (oracle mask)")
    ax.set_xlabel("number of clicks")
    ax.set_ylabel("mIoU")
    ax.set_ylim(0, 1)
    ax.set_xticks(range(1, max(len(s["all"].get("miou_score", [])) for s in summaries.values()) + 1, 2))
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_attack_budgets(summaries: dict[str, dict], path: Path) -> Path:
    """mIoU vs L-inf budget, per model, for both attacks and both prompt kinds."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), dpi=120, sharey=True)
    for ax, prompt in zip(axes, ("point", "box")):
        for i, (label, s) in enumerate(summaries.items()):
            if not s.get("count"):
                continue
            for attack, style in (("embedding", "-o"), ("prompt", "--s")):
                budgets = list(s[attack])
                if not budgets:
                    continue
                xs = [0.0] + [float(b.split("/")[0]) for b in budgets]
                ys = [s["clean"][prompt]] + [s[attack][b][prompt]["miou"] for b in budgets]
                ax.plot(xs, ys, style, color=f"C{i}", ms=4, label=f"{label}, {attack} attack")
        ax.set_title(f"{prompt} prompt")
        ax.set_xlabel("L-inf budget (x/255)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mIoU")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def _overlay(ax, image: np.ndarray, mask: np.ndarray, box=None, title: str = "") -> None:
    ax.imshow(image)
    tint = np.zeros((*mask.shape, 4))
    tint[mask] = (0.1, 0.6, 1.0, 0.5)
    ax.imshow(tint)
    if box is not None:
        x0, y0, x1, y1 = box
        ax.add_patch(__import__("matplotlib.patches", fromlist=["Rectangle"]).Rectangle(
            (x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=1.5))
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def plot_attack_example(example: dict, path: Path) -> Path:
    """Clean vs attacked box prediction, and the perturbation amplified to be visible.

    Shown in the model-input frame (the resized image the encoder sees, where the attack lives);
    masks and box are resized to it.
    """
    plt = _plt()
    from PIL import Image

    H, W = example["gt"].shape
    clean = np.clip(example["clean_input"], 0, 255).round().astype(np.uint8)
    adv = np.clip(example["attacked_input"], 0, 255).round().astype(np.uint8)
    h, w = clean.shape[:2]

    def to_input(mask):
        return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.NEAREST)) > 0

    box = np.asarray(example["box_xyxy"], dtype=np.float64) * np.array([w / W, h / H, w / W, h / H])
    delta = example["attacked_input"] - example["clean_input"]
    span = max(float(np.abs(delta).max()), 1e-6)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=90)
    _overlay(axes[0], clean, to_input(example["clean_box_mask"]), box, "clean, box prompt")
    _overlay(axes[1], adv, to_input(example["attacked_box_mask"]), box,
             f"embedding attack, L-inf {example['eps']}")
    axes[2].imshow((delta / span * 0.5 + 0.5).clip(0, 1))
    axes[2].set_title(f"perturbation (x{127.5 / span:.0f} to be visible)", fontsize=9)
    axes[2].axis("off")
    fig.suptitle(f"image {example['image_id']}, model input {w}x{h}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_video_j_and_f(summaries: dict[str, dict], path: Path, title: str = "J&F per sequence") -> Path:
    """Grouped bars: J&F of each method per sequence and over all tracks ("mean", leftmost)."""
    plt = _plt()
    seqs = sorted({q for s in summaries.values() for q in s["per_sequence"]})
    groups = ["mean"] + seqs
    n = max(len(summaries), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.4, 0.25 * n * len(groups) + 2), 4.4), dpi=120)
    xs = np.arange(len(groups))
    for i, (label, s) in enumerate(summaries.items()):
        ys = [s["mean"]["J&F"]] + [s["per_sequence"].get(q, {}).get("J&F", np.nan) for q in seqs]
        ax.bar(xs - 0.4 + (i + 0.5) * width, ys, width, color=f"C{i}", label=f"{label} ({s['mean']['J&F']:.3f})")
    ax.set_xticks(xs)
    ax.set_xticklabels(groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center",
                       fontsize=8)
    ax.axvline(0.5, color="0.6", lw=0.8)
    ax.set_ylabel("J&F")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
