"""The built-in model (v2, tiny_vit_cpu) on this machine: set_image, one click, and automatic masks,
next to samkit's vit_b and vit_t and v1's architecture, vit_cpu (docs/model-card.md, "Encoder"), in
the same process.

Configurations run round-robin (one call each per round, after a warm-up round), so a change in
machine load hits all of them alike; the median per configuration is reported. Writes the
`builtin` section of docs/benchmarks.md.

    PYTHONPATH=src python benchmarks/bench_builtin.py [--rounds 5] [--threads 2] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

from report import machine_line, write_section  # noqa: E402
from samkit.automatic import SamAutomaticMaskGenerator  # noqa: E402
from samkit.build import build_sam, load_model  # noqa: E402
from samkit.image_io import load_image  # noqa: E402
from samkit.inference.predictor import SamPredictor  # noqa: E402

IMAGE = ROOT / "examples" / "chelsea.png"  # CC0


def timed(fn, n: int = 1) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds after one warm-up round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    image = load_image(IMAGE)
    click = dict(point_coords=np.array([[250, 170]]), point_labels=np.array([1]))

    models = {"built-in v2 (tiny_vit_cpu), fp32": load_model(),
              "built-in v2 (tiny_vit_cpu), bf16 autocast": load_model(dtype="bfloat16"),
              "v1's vit_cpu, fp32": build_sam("vit_cpu").eval(),
              "v1's vit_cpu, bf16 autocast": load_model("vit_cpu", dtype="bfloat16"),
              "vit_t, fp32": build_sam("vit_t").eval(), "vit_b, fp32": build_sam("vit_b").eval()}
    preds = {k: SamPredictor(m) for k, m in models.items()}
    enc: dict[str, list[float]] = {k: [] for k in preds}
    dec: dict[str, list[float]] = {k: [] for k in preds}
    for r in range(args.rounds + 1):
        for name, pred in preds.items():
            with torch.no_grad():
                t_enc = timed(lambda: pred.set_image(image))
                t_dec = timed(lambda: pred.predict(**click), n=20)
            if r > 0:
                enc[name].append(t_enc)
                dec[name].append(t_dec)
            print(f"round {r}: {name}: set_image {t_enc * 1e3:.0f} ms, click {t_dec * 1e3:.1f} ms", flush=True)

    amg_s = {}
    for name in ("built-in v2 (tiny_vit_cpu), fp32", "built-in v2 (tiny_vit_cpu), bf16 autocast"):
        gen = SamAutomaticMaskGenerator(models[name])
        with torch.no_grad():
            gen.generate(image)  # warm-up
            t = [timed(lambda: gen.generate(image)) for _ in range(2)]
        amg_s[name] = (statistics.median(t), len(gen.generate(image)))

    base = statistics.median(enc["vit_b, fp32"])
    rows = ["| model | set_image median (ms) | vs vit_b fp32 | one click (predict) median (ms) |",
            "| --- | ---: | ---: | ---: |"]
    for name in preds:
        e, d = statistics.median(enc[name]), statistics.median(dec[name])
        rows.append(f"| {name} | {e * 1e3:.0f} | {e / base:.3f}x | {d * 1e3:.1f} |")
    md = "\n".join([
        "## Built-in model (v2: tiny_vit_cpu)",
        "",
        machine_line(),
        f"Image: examples/{IMAGE.name} ({image.shape[1]}x{image.shape[0]}), {args.threads} threads. `set_image` = "
        "resize, normalise, encode (tiny_vit_cpu and vit_cpu at 384 px, the others at 1024 px); one click = "
        "`predict` with one point, 3 masks, upscaled to the photo (mean of 20). vit_cpu, vit_t and vit_b have "
        "random weights (speed only). "
        f"{args.rounds} round-robin rounds after a warm-up, median reported. `benchmarks/bench_builtin.py`.",
        "",
        *rows,
        "",
        "Automatic masks (`samkit auto` defaults: 32 x 32 points, one crop layer): "
        + "; ".join(f"{k} {t:.2f} s ({n} masks)" for k, (t, n) in amg_s.items()) + ".",
    ])
    print(md)
    if not args.no_write:
        print("wrote", write_section("builtin", md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
