"""Automatic mask generation: samkit vs segment_anything, same weights, same photo, one process.

    python benchmarks/bench_amg.py [--preset vit_b] [--image PATH] [--memory]

Runs each configuration with the reference first, then samkit, and reports wall times, the
breakdown (encoder / decoder / post-processing: upscaling, filtering, NMS, RLE) and the parity
figures (mask count, worst matched mask IoU, worst score differences). --memory also runs samkit
alone on the photo upscaled to 4000 x 3000 with crop_n_layers=1, in a child process, and reports
its peak RSS. Results go to the `amg` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

SHARED_DATA = Path(__import__("os").environ.get("SAMKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
MEMORY_POINTS = 8
DEFAULT_IMAGE = SHARED_DATA / "coco" / "images" / "train2017" / "000000000009.jpg"


def _timed(obj, name: str, bucket: dict, key: str):
    """Wrap obj.name so its wall time accumulates in bucket[key]; returns an undo function."""
    fn = getattr(obj, name)

    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            bucket[key] = bucket.get(key, 0.0) + time.perf_counter() - t

    setattr(obj, name, wrapper)
    return lambda: delattr(obj, name)


def run_reference(sa, model, image, kw):
    gen = sa.SamAutomaticMaskGenerator(model, **kw)
    parts: dict[str, float] = {}
    undo = [_timed(gen.predictor, "set_image", parts, "encoder"), _timed(model.mask_decoder, "forward", parts, "decoder"),
            _timed(model, "postprocess_masks", parts, "upscale")]
    t = time.perf_counter()
    try:
        out = gen.generate(image)
    finally:
        total = time.perf_counter() - t
        for u in undo:
            u()
    parts["postprocess"] = total - sum(parts.values())
    return out, total, parts


def run_samkit(model, image, kw):
    from samkit.automatic import SamAutomaticMaskGenerator

    gen = SamAutomaticMaskGenerator(model, **kw)
    t = time.perf_counter()
    out = gen.generate(image)
    total = time.perf_counter() - t
    return out, total, dict(gen.timings)


def parity(ours: list[dict], ref: list[dict]) -> dict:
    from pycocotools import mask as mask_utils

    res = {"count_ours": len(ours), "count_ref": len(ref), "min_iou": None, "max_d_pred_iou": None, "max_d_stability": None}
    if not ours or not ref or len(ours) != len(ref):
        return res

    def rle(s):
        return {"size": s["size"], "counts": s["counts"].encode()}

    ious = np.asarray(mask_utils.iou([rle(o["segmentation"]) for o in ours], [rle(r["segmentation"]) for r in ref],
                                     [0] * len(ref))).reshape(len(ours), len(ref))
    best = ious.argmax(1)
    res["min_iou"] = float(ious.max(1).min())
    res["one_to_one"] = len(set(best.tolist())) == len(ref)
    res["max_d_pred_iou"] = max(abs(o["predicted_iou"] - ref[j]["predicted_iou"]) for o, j in zip(ours, best))
    res["max_d_stability"] = max(abs(o["stability_score"] - ref[j]["stability_score"]) for o, j in zip(ours, best))
    return res


def _vm_hwm_kb() -> int:
    """Peak RSS of this process in KiB. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec,
    so a child started by a big parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(preset: str, image_path: Path, zero: bool = False) -> None:
    """Child process: samkit only, 4000 x 3000, crop_n_layers=1; prints JSON with peak RSS."""
    from PIL import Image

    from samkit import build_sam
    from samkit.image_io import load_image

    image = np.asarray(Image.fromarray(load_image(image_path)).resize((4000, 3000), Image.BILINEAR))
    model = build_sam(preset)
    rss0 = _vm_hwm_kb()
    # Peak memory is set by one crop's encoder pass and one batch of points_per_batch prompts, not by
    # the number of batches, so a coarser grid (one batch per crop) measures the same peak in less time.
    kw = dict(crop_n_layers=1, points_per_side=MEMORY_POINTS, output_mode="coco_rle")
    if zero:  # worst case for post-processing: every mask goes through full-resolution stats
        kw.update(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    out, total, parts = run_samkit(model, image, kw)
    peak_kb = _vm_hwm_kb()
    print(json.dumps({"seconds": total, "parts": parts, "masks": len(out), "peak_rss_gib": peak_kb / 2**20,
                      "rss_after_model_gib": rss0 / 2**20, "points_per_side": kw["points_per_side"],
                      "thresholds0": zero}))


def fmt_parts(parts: dict) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in parts.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="vit_b")
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--memory", action="store_true", help="also measure peak RSS at 4000 x 3000 with crops")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--memory-zero", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--memory-results", type=Path, help="include memory results (JSON lines) of earlier child runs")
    ap.add_argument("--zero-points", type=int, default=16, help="points per side of the thresholds-0 run")
    ap.add_argument("--no-write", action="store_true", help="print only, do not update docs/benchmarks.md")
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.preset, args.image, args.memory_zero)
        return

    from reference_sam import import_reference, twin_models
    from report import machine_line, write_section
    from samkit import get_preset
    from samkit.image_io import load_image

    sa = import_reference()
    image = load_image(args.image)
    ref_model, our_model = twin_models(get_preset(args.preset), seed=0)
    configs = [
        ("default settings (32x32 points)", dict(output_mode="coco_rle")),
        (f"thresholds 0 ({args.zero_points}x{args.zero_points} points, NMS 0.7)",
         dict(points_per_side=args.zero_points, pred_iou_thresh=0.0, stability_score_thresh=0.0, output_mode="coco_rle")),
    ]
    rows = []
    for name, kw in configs:
        print(f"[bench_amg] {name}: reference ...", flush=True)
        ref_out, ref_t, ref_parts = run_reference(sa, ref_model, image, kw)
        print(f"[bench_amg]   reference {ref_t:.1f} s ({fmt_parts(ref_parts)}); samkit ...", flush=True)
        our_out, our_t, our_parts = run_samkit(our_model, image, kw)
        par = parity(our_out, ref_out)
        print(f"[bench_amg]   samkit {our_t:.1f} s ({fmt_parts(our_parts)}); ratio {our_t / ref_t:.3f}; {par}", flush=True)
        rows.append((name, ref_t, ref_parts, our_t, our_parts, par))

    mems: list[dict] = []
    if args.memory:
        for zero in (False, True):
            print(f"[bench_amg] memory run (4000 x 3000, crop_n_layers=1, samkit only, thresholds0={zero}) ...", flush=True)
            cmd = [sys.executable, __file__, "--memory-child", "--preset", args.preset, "--image", str(args.image)]
            proc = subprocess.run(cmd + (["--memory-zero"] if zero else []), capture_output=True, text=True, check=True)
            mems.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"[bench_amg]   {mems[-1]}", flush=True)
    if args.memory_results:  # JSON lines printed by earlier --memory-child runs of this script
        mems += [json.loads(line) for line in args.memory_results.read_text().splitlines() if line.startswith("{")]

    h, w = image.shape[:2]
    lines = [
        "## Automatic mask generation (`benchmarks/bench_amg.py`)",
        "",
        machine_line(),
        f"Model {args.preset} with identical random weights in both; photo `{args.image.name}` ({w}x{h}); "
        "fp32; both run in the same process, reference first. The machine is shared by several agents "
        "(2 cores), so absolute times are inflated and noisy; the ratio is what the run measured.",
        "",
        "| configuration | reference s | samkit s | ratio | reference breakdown s | samkit breakdown s | masks (samkit/ref) | min mask IoU | max score diff (pred IoU / stability) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, ref_t, ref_parts, our_t, our_parts, par in rows:
        miou = "n/a (no masks)" if par["min_iou"] is None else f"{par['min_iou']:.4f}"
        sd = "n/a" if par["max_d_pred_iou"] is None else f"{par['max_d_pred_iou']:.1e} / {par['max_d_stability']:.1e}"
        lines.append(f"| {name} | {ref_t:.1f} | {our_t:.1f} | {our_t / ref_t:.3f} | {fmt_parts(ref_parts)} | "
                     f"{fmt_parts(our_parts)} | {par['count_ours']}/{par['count_ref']} | {miou} | {sd} |")
    lines += [
        "",
        "Reference breakdown: encoder = `set_image`, decoder = `mask_decoder`, upscale = `postprocess_masks` "
        "(every mask to full size), postprocess = the rest (filtering, boxes, RLE, NMS). samkit: encoder, "
        "decoder (transformer for all points + low-res masks for the survivors of the IoU filter), postprocess "
        "(full-res stability/box/area of survivors, NMS, RLE).",
        "With random weights the predicted IoU is far below 0.88, so at default settings both keep no mask; "
        "the thresholds-0 row is where filtering, NMS and RLE do real work.",
    ]
    for mem in mems:
        pts = mem.get("points_per_side", 32)
        what = "thresholds 0 (every mask through full-resolution stats, NMS, RLE)" if mem.get("thresholds0") else "default thresholds"
        lines += ["", f"Memory: samkit alone on the photo upscaled to 4000x3000, crop_n_layers=1 (5 crops), {what}, "
                      f"{pts}x{pts} points per crop (peak memory is set by one crop and one batch, not by the number "
                      f"of batches): peak RSS {mem['peak_rss_gib']:.2f} GiB, {mem['seconds']:.0f} s "
                      f"({fmt_parts(mem['parts'])}), {mem['masks']} masks."]
    if mems:
        lines += ["The reference was not run at this size: it upsamples each batch of 192 masks to 4000x3000 float "
                  "logits (~9 GB per batch) before filtering."]
    md = "\n".join(lines)
    print(md)
    if not args.no_write:
        print("wrote", write_section("amg", md))


if __name__ == "__main__":
    main()
