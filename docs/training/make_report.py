"""Turn the proof runs' metrics.jsonl into the curves under docs/img/ and the tables of
docs/training.md (printed as markdown). Usage: python docs/training/make_report.py RUN_DIR [RUN_DIR ...]"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from samkit.training.curves import plot_run, read_metrics

DOCS = Path(__file__).resolve().parents[1]


def table(run_dir: Path) -> str:
    train, val = read_metrics(run_dir / "metrics.jsonl")
    n = len(val[0]["miou_clicks"])
    head = "| step | 1 point | box | " + " | ".join(f"{k} clicks" for k in range(2, n + 1)) + " | masks |"
    rows = [head, "|" + " --- |" * (n + 3)]
    for r in val:
        rows.append(f"| {r['step']} | {r['miou_1pt']:.3f} | {r['miou_box']:.3f} | "
                    + " | ".join(f"{x:.3f}" for x in r["miou_clicks"][1:]) + f" | {r['num_masks']} |")
    speed = statistics.median(r["images_per_s"] for r in train)
    wall = train[-1]["elapsed_s"] / 60
    rows.append("")
    rows.append(f"{train[-1]['step']} steps in {wall:.0f} min of wall time (validation included), median "
                f"{speed:.2f} images/s; training loss {train[0]['loss']:.3f} (step {train[0]['step']}) -> "
                f"{statistics.mean(r['loss'] for r in train[-10:]):.3f} (mean of the last 10 logs).")
    return "\n".join(rows)


def main(run_dirs: list[str]) -> None:
    for d in map(Path, run_dirs):
        png = plot_run(d / "metrics.jsonl", DOCS / "img" / f"training_{d.name}.png", d.name)
        print(f"### {d.name}\n\n![{d.name}](img/{png.name})\n\n{table(d)}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
