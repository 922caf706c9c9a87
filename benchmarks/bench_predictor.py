"""samkit vs the official predictor, side by side in one process, identical vit_b weights, a real photo.

Measures set_image (fp32 for both, plus samkit's bf16 fast path) and predict (1 click), reports the
samkit/reference ratios and the fast path's mask agreement with fp32, and writes docs/benchmarks.md.
Runs are interleaved (ref, samkit, ref, samkit...) so machine noise hits both sides alike.

    python benchmarks/bench_predictor.py [--image PATH] [--repeats 3] [--clicks 30] [--device cpu]
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
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from reference_sam import import_reference, twin_models  # noqa: E402
from report import machine_line, write_section  # noqa: E402

from samkit import SamPredictor, get_preset, load_image  # noqa: E402
from samkit.build import fast_bf16_available  # noqa: E402

DEFAULT_IMAGE = ROOT.parent / "shared" / "data" / "coco" / "images" / "train2017" / "000000000009.jpg"


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--image", default=str(DEFAULT_IMAGE))
    ap.add_argument("--repeats", type=int, default=3, help="set_image runs per side")
    ap.add_argument("--clicks", type=int, default=30, help="predict calls per side")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-write", action="store_true", help="print only, do not update docs/benchmarks.md")
    args = ap.parse_args()

    image = load_image(args.image) if Path(args.image).is_file() else None
    if image is None:
        raise SystemExit(f"image {args.image} not found (pass --image)")
    sa = import_reference()
    ref_model, our_model = twin_models(get_preset("vit_b"))
    dev = torch.device(args.device)
    ref_model.to(dev)
    our_model.to(dev)
    ref, ours = sa.SamPredictor(ref_model), SamPredictor(our_model)
    fast_dtype = torch.bfloat16
    fast_model = twin_models(get_preset("vit_b"))[1].to(dev)
    fast_model.encoder_dtype = fast_dtype
    fast = SamPredictor(fast_model)

    # Warm-up (first calls pay one-off costs: allocator growth, kernel selection).
    for p in (ref, ours, fast):
        p.set_image(image)
    t_ref, t_ours, t_fast = [], [], []
    for _ in range(args.repeats):
        t_ref.append(timed(lambda: ref.set_image(image)))
        t_ours.append(timed(lambda: ours.set_image(image)))
        t_fast.append(timed(lambda: fast.set_image(image)))

    h, w = image.shape[:2]
    rng = np.random.default_rng(0)
    clicks = rng.uniform([0, 0], [w, h], size=(args.clicks, 2))
    c_ref, c_ours = [], []
    for xy in clicks:
        kw = dict(point_coords=xy[None], point_labels=np.array([1]), multimask_output=True)
        c_ref.append(timed(lambda: ref.predict(**kw)))
        c_ours.append(timed(lambda: ours.predict(**kw)))

    # Agreement: fp32 parity with the reference, and the bf16 fast path against fp32.
    diffs, fast_ious = [], []
    boxes = np.concatenate([clicks[:10] * 0.5, clicks[:10] * 0.5 + [w * 0.4, h * 0.4]], axis=1)
    prompts = [dict(point_coords=xy[None], point_labels=np.array([1]), multimask_output=True) for xy in clicks[:20]]
    prompts += [dict(box=b, multimask_output=False) for b in boxes]
    for kw in prompts:
        r = ref.predict(**kw)
        o = ours.predict(**kw)
        f = fast.predict(**kw)
        diffs.append(float(np.abs(r[2] - o[2]).max()))
        fast_ious += [mask_iou(o[0][k], f[0][k]) for k in range(len(o[0]))]
    emb_diff = float((ref.get_image_embedding() - ours.get_image_embedding()).abs().max())

    med = statistics.median
    rows = [
        ("set_image, reference fp32", med(t_ref), 1.0),
        ("set_image, samkit fp32", med(t_ours), med(t_ours) / med(t_ref)),
        (f"set_image, samkit {str(fast_dtype).split('.')[-1]} fast path", med(t_fast), med(t_fast) / med(t_ref)),
        ("predict 1 click (3 masks), reference", med(c_ref), 1.0),
        ("predict 1 click (3 masks), samkit", med(c_ours), med(c_ours) / med(c_ref)),
    ]
    lines = [
        "## Predictor: samkit vs segment_anything (vit_b, identical random weights)",
        "",
        machine_line() + f" Device {dev}; bf16 hardware support: {fast_bf16_available(dev)}.",
        f"Image: `{Path(args.image).name}` ({w}x{h}). Medians of {args.repeats} set_image and {args.clicks} predict "
        f"calls per side, interleaved, after one warm-up. Command: `python benchmarks/bench_predictor.py`.",
        "",
        "| what | median | samkit / reference |",
        "|---|---|---|",
    ]
    for name, t, ratio in rows:
        unit = f"{t:.2f} s" if t >= 1 else f"{t * 1e3:.1f} ms"
        lines.append(f"| {name} | {unit} | {ratio:.2f}x |")
    lines += [
        "",
        f"- fp32 parity: image embedding max abs diff {emb_diff:.2e}; low-res logits max abs diff "
        f"{max(diffs):.2e} over {len(prompts)} prompts (20 clicks, 10 boxes).",
        f"- bf16 fast path vs samkit fp32: mask IoU mean {np.mean(fast_ious):.4f}, min {np.min(fast_ious):.4f} "
        f"over {len(fast_ious)} masks.",
        f"- All runs: set_image reference {', '.join(f'{t:.2f}' for t in t_ref)} s; samkit fp32 "
        f"{', '.join(f'{t:.2f}' for t in t_ours)} s; fast {', '.join(f'{t:.2f}' for t in t_fast)} s.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        print("wrote", write_section(f"predictor-{dev.type}", text))


if __name__ == "__main__":
    main()
