"""SAM 2 image encoder (Hiera trunk + FPN neck): samkit vs the reference sam2==1.1.0, side by side.

Both encoders are built from the reference's own sam2.1_hiera_<size>.yaml keyword arguments with
identical random weights, in one process, under identical allocator settings. Configurations run
round-robin (one call of each per round, after a warm-up round), so a change in machine load hits
all of them alike. Reported per configuration: median and min wall time, min process CPU time
(less sensitive to other jobs on a shared machine), and ratios to the reference in fp32.

    PYTHONPATH=src:tests python benchmarks/bench_sam2_encoder.py [--sizes t b+] [--rounds 3]
        [--threads N] [--image-size 1024] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from report import machine_line, write_section  # noqa: E402
from reference_sam2 import import_reference_sam2  # noqa: E402
from samkit.modeling.sam2.hiera import Hiera  # noqa: E402
from samkit.modeling.sam2.image_encoder import FpnNeck, ImageEncoder  # noqa: E402
from samkit.modeling.sam2.position_encoding import PositionEmbeddingSine  # noqa: E402


def _encoder_kwargs(size: str) -> tuple[dict, dict, dict, int]:
    sam2 = import_reference_sam2()
    path = Path(sam2.__file__).parent / "configs" / "sam2.1" / f"sam2.1_hiera_{size}.yaml"
    enc = yaml.safe_load(path.read_text())["model"]["image_encoder"]
    strip = lambda d: {k: v for k, v in d.items() if k != "_target_"}  # noqa: E731
    neck = strip(enc["neck"])
    pe = strip(neck.pop("position_encoding"))
    return strip(enc["trunk"]), neck, pe, enc["scalp"]


def twin_encoders(size: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(reference, samkit) ImageEncoders of an official size with the same random weights."""
    import_reference_sam2()
    from sam2.modeling.backbones import hieradet, image_encoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine as RefSine

    trunk_kw, neck_kw, pe_kw, scalp = _encoder_kwargs(size)
    torch.manual_seed(0)
    ref = image_encoder.ImageEncoder(hieradet.Hiera(**trunk_kw), image_encoder.FpnNeck(
        position_encoding=RefSine(**pe_kw), **neck_kw), scalp=scalp).eval()
    ours = ImageEncoder(Hiera(**trunk_kw), FpnNeck(position_encoding=PositionEmbeddingSine(**pe_kw),
                                                   **neck_kw), scalp=scalp).eval()
    state = ref.state_dict()
    for key in ("trunk.pos_embed", "trunk.pos_embed_window"):  # zeros at init: make them matter
        state[key] = torch.randn_like(state[key]) * 0.5
    ref.load_state_dict(state)
    ours.load_state_dict(state, strict=True)
    return ref, ours


def run_size(size: str, rounds: int, image_size: int) -> str:
    ref, ours = twin_encoders(size)
    bf16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    configs = {
        "reference, fp32": (ref, contextlib.nullcontext),
        "samkit, fp32": (ours, contextlib.nullcontext),
        "samkit, bf16 autocast": (ours, bf16),
        "reference, bf16 autocast": (ref, bf16),
    }
    torch.manual_seed(1)
    image = torch.randn(1, 3, image_size, image_size)
    wall: dict[str, list[float]] = {k: [] for k in configs}
    cpu: dict[str, list[float]] = {k: [] for k in configs}
    outputs = {}
    with torch.no_grad():
        for r in range(rounds + 1):
            for name, (model, ctx) in configs.items():
                t0, c0 = time.perf_counter(), time.process_time()
                with ctx():
                    outputs[name] = model(image)
                if r > 0:  # round 0 warms up (caches, allocator, oneDNN primitives)
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
    base_wall, base_cpu = statistics.median(wall["reference, fp32"]), min(cpu["reference, fp32"])
    rows = [f"### hiera_{size} ({image_size}x{image_size}, batch 1)", "",
            "| configuration | wall median (s) | wall min (s) | CPU min (s) | wall ratio | CPU ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in configs:
        med = statistics.median(wall[name])
        rows.append(f"| {name} | {med:.2f} | {min(wall[name]):.2f} | {min(cpu[name]):.2f} | "
                    f"{med / base_wall:.2f}x | {min(cpu[name]) / base_cpu:.2f}x |")
    ref_out, fp32_out = outputs["reference, fp32"], outputs["samkit, fp32"]
    diff = max((a - b).abs().max().item() for a, b in zip(ref_out["backbone_fpn"], fp32_out["backbone_fpn"]))
    rel = [((a - b.float()).norm() / a.norm()).item()
           for a, b in zip(ref_out["backbone_fpn"], outputs["samkit, bf16 autocast"]["backbone_fpn"])]
    rows += ["", f"- samkit fp32 vs reference fp32, backbone_fpn max abs diff: {diff:.2e}.",
             "- samkit bf16 vs reference fp32, relative L2 error per level: "
             + ", ".join(f"{r:.4f}" for r in rel) + ".",
             "- Per-round wall times (s): " + "; ".join(
                 f"{k}: " + ", ".join(f"{t:.2f}" for t in v) for k, v in wall.items())]
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["t", "b+"], choices=["t", "s", "b+", "l"])
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up round")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--image-size", type=int, default=1024)
    ap.add_argument("--write", action="store_true", help="write the sam2_encoder section of docs/benchmarks.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sections = [run_size(size, args.rounds, args.image_size) for size in args.sizes]
    text = "\n\n".join([
        "## SAM 2 image encoder (`benchmarks/bench_sam2_encoder.py`)", "", machine_line(),
        "Random weights, identical in both; one process, round-robin after a warm-up round. "
        "CPU time is the process's (all threads), less affected by other jobs than wall time.",
        *sections])
    print(text)
    if args.write:
        print(f"wrote {write_section('sam2_encoder', text)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
