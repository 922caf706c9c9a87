"""MobileSAM's vit_t encoder in samkit: set_image time vs samkit's vit_b and vs MobileSAM's own code.

One process, one photo, identical allocator settings. Configurations run round-robin (one call of
each per round, after a warm-up round), so a change in machine load hits all of them alike; the
median per configuration is reported. Writes the `vit_t` section of docs/benchmarks.md.

    PYTHONPATH=src:tests python benchmarks/bench_vit_t.py [--rounds 3] [--image PATH] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from report import machine_line, write_section  # noqa: E402
from samkit.build import build_sam  # noqa: E402
from samkit.image_io import load_image  # noqa: E402
from samkit.inference.predictor import SamPredictor  # noqa: E402

SHARED_DATA = Path(os.environ.get("SAMKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_IMAGE = SHARED_DATA / "coco" / "images" / "train2017" / "000000000009.jpg"


def _photo(path: Path | None) -> tuple[np.ndarray, str]:
    path = path or DEFAULT_IMAGE
    if path.is_file():
        return load_image(path), path.name
    rng = np.random.default_rng(0)
    return (rng.random((480, 640, 3)) * 255).astype(np.uint8), "random 640x480 noise (no photo found)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up round")
    ap.add_argument("--image", type=Path, default=None)
    ap.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = ap.parse_args()

    from reference_mobile_sam import build_reference_vit_t, import_mobile_sam, randomize_state_dict

    image, image_name = _photo(args.image)
    torch.manual_seed(0)
    ref = build_reference_vit_t()
    state = randomize_state_dict(ref.state_dict())
    ref.load_state_dict(state)
    ref.eval()  # refresh MobileSAM's cached attention-bias tables after loading
    vit_t = build_sam("vit_t")
    vit_t.load_state_dict(state, strict=True)
    vit_t_bf16 = build_sam("vit_t")
    vit_t_bf16.load_state_dict(state, strict=True)
    vit_t_bf16.encoder_dtype = torch.bfloat16
    vit_b = build_sam("vit_b")
    vit_b_bf16 = build_sam("vit_b")
    vit_b_bf16.load_state_dict(vit_b.state_dict())
    vit_b_bf16.encoder_dtype = torch.bfloat16

    predictors = {
        "MobileSAM reference vit_t, fp32": import_mobile_sam().SamPredictor(ref),
        "samkit vit_t, fp32": SamPredictor(vit_t),
        "samkit vit_t, bf16 autocast": SamPredictor(vit_t_bf16),
        "samkit vit_b, fp32": SamPredictor(vit_b),
        "samkit vit_b, bf16 autocast": SamPredictor(vit_b_bf16),
    }
    times: dict[str, list[float]] = {k: [] for k in predictors}
    embeddings: dict[str, torch.Tensor] = {}
    for r in range(args.rounds + 1):
        for name, pred in predictors.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                pred.set_image(image)
            dt = time.perf_counter() - t0
            if r > 0:
                times[name].append(dt)
            embeddings[name] = pred.get_image_embedding().float()
            print(f"round {r}{' (warm-up)' if r == 0 else ''}: {name}: {dt:.2f} s", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    ref_emb = embeddings["MobileSAM reference vit_t, fp32"]
    parity = (embeddings["samkit vit_t, fp32"] - ref_emb).abs().max().item()

    def rel(a: str, b: str) -> float:
        return ((embeddings[a] - embeddings[b]).norm() / embeddings[b].norm()).item()

    rows = [
        "| configuration | set_image median (s) | vs MobileSAM vit_t fp32 | vs samkit vit_b fp32 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, t in med.items():
        rows.append(f"| {name} | {t:.2f} | {t / med['MobileSAM reference vit_t, fp32']:.2f}x | "
                    f"{t / med['samkit vit_b, fp32']:.3f}x |")
    md = "\n".join([
        "## vit_t (MobileSAM TinyViT) encoder",
        "",
        machine_line(),
        f"Image: {image_name}, {image.shape[1]}x{image.shape[0]}, encoded at 1024x1024 (`set_image`: resize, "
        f"normalise, encode). Random weights (identical for MobileSAM and samkit vit_t), {args.rounds} "
        "round-robin rounds after a warm-up, median reported. Produced by `benchmarks/bench_vit_t.py`.",
        "",
        *rows,
        "",
        f"- samkit vit_t vs MobileSAM vit_t (fp32): embedding max abs diff {parity:.2e}.",
        f"- bf16 autocast vs fp32 embedding, relative L2 error: vit_t {rel('samkit vit_t, bf16 autocast', 'samkit vit_t, fp32'):.4f}, "
        f"vit_b {rel('samkit vit_b, bf16 autocast', 'samkit vit_b, fp32'):.4f}.",
        f"- Per-round times (s): " + "; ".join(f"{k}: {', '.join(f'{x:.2f}' for x in v)}" for k, v in times.items()),
    ])
    print(md)
    if not args.no_write:
        print("wrote", write_section("vit_t", md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
