"""Stage 3 of the data engine on a local Ray cluster: images/s with 1 vs 2 workers, interleaved.

    OMP_NUM_THREADS=1 python benchmarks/bench_engine_ray.py [--images N] [--repeats R] [--points-per-side P]

Each measurement is a fresh engine project over the same N images (COCO photos from ../shared/data
when present, else synthetic shapes) with samkit's built-in model; one Ray runtime (num_cpus = 2)
serves every run, so Ray's start-up is not counted, the actors' model loading is. Runs alternate
1, 2, 1, 2, ... workers so a change in machine load hits both alike. Prints a markdown table and the
load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COCO = REPO.parent / "shared" / "data" / "coco" / "images" / "train2017"


def _images(n: int, work: Path) -> tuple[Path, str]:
    folder = work / "images"
    folder.mkdir()
    if COCO.is_dir():
        for p in sorted(COCO.glob("*.jpg"))[:n]:
            os.symlink(p, folder / p.name)
        return folder, f"{n} COCO photos (640 px)"
    import sys

    sys.path.insert(0, str(REPO / "tests" / "engine"))
    from synthetic_engine_data import write_dataset

    write_dataset(work / "synth", n)
    return work / "synth" / "images", f"{n} synthetic 96x128 images"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--points-per-side", type=int, default=12)
    args = ap.parse_args()

    import ray

    from samkit.engine.auto_stage import run_auto
    from samkit.engine.project import init_project

    work = Path(tempfile.mkdtemp(prefix="bench_engine_ray_"))
    folder, what = _images(args.images, work)
    overrides = {"points_per_side": args.points_per_side, "crop_n_layers": 0}
    load_before = os.getloadavg()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    rates: dict[int, list[float]] = {1: [], 2: []}
    try:
        for rep in range(args.repeats):
            for workers in (1, 2):
                project = init_project(work / f"p{rep}_{workers}", folder, "builtin")
                t0 = time.perf_counter()
                s = run_auto(project, overrides, ray="local", workers=workers, progress=False)
                rates[workers].append(s.done / (time.perf_counter() - t0))
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"stage 3 on Ray (local, num_cpus=2), {what}, built-in model, {args.points_per_side}x"
          f"{args.points_per_side} grid, no crops, 1 torch thread per worker, {args.repeats} runs each, interleaved")
    print("| workers | images/s (median) | runs |\n|---|---|---|")
    for w in (1, 2):
        print(f"| {w} | {statistics.median(rates[w]):.3f} | {', '.join(f'{r:.3f}' for r in rates[w])} |")
    print(f"ratio 2 vs 1 workers: {statistics.median(rates[2]) / statistics.median(rates[1]):.2f}x; "
          f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
