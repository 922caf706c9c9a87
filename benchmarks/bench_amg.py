"""Automatic mask generation: samkit vs segment_anything, same weights, same photo, one process.

    python benchmarks/bench_amg.py [--rounds 1] [--threads 2] [--zero-points 16] [--memory] [--no-write]

Rows: segment_anything fp32 (the reference); samkit fp32; samkit with dtype="auto" (the encoder
path auto picks on this CPU) with the grid-point decoder in fp32 and in the precision AMG picks
for it (bf16 on a fast-bf16 CPU, src/samkit/automatic/decoder_precision.py); samkit int8 (OpenVINO
+ NNCF) when the openvino extra is installed. Two configurations: the default settings (32x32
points) and a parity one (thresholds 0, NMS off, --zero-points per side), where every mask is
compared with the reference's mask of the same grid point. Rows are interleaved round by round;
medians over --rounds rounds after a small warm-up (2x2 points per row). Reports wall times, the
breakdown (encoder / decoder / post-processing), the ratio to the reference, and writes the `amg`
section of docs/benchmarks.md (the CPU and its flags in the heading). --memory also runs samkit
alone on the photo upscaled to 4000 x 3000 with crop_n_layers=1, in a child process, and writes
its peak RSS to the `amg-memory` section.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from report import machine_line, write_section  # noqa: E402

SHARED_DATA = Path(os.environ.get("SAMKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
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


def run_samkit(model, image, kw, decoder_dtype=None):
    from samkit.automatic import SamAutomaticMaskGenerator

    gen = SamAutomaticMaskGenerator(model, decoder_dtype=decoder_dtype, **kw)
    t = time.perf_counter()
    out = gen.generate(image)
    total = time.perf_counter() - t
    return out, total, dict(gen.timings)


def parity(ours: list[dict], ref: list[dict]) -> dict:
    """Each of our masks against the reference masks of the same grid point: the best IoU (min and
    mean over our masks) and the predicted-IoU difference to that best match."""
    from pycocotools import mask as mask_utils

    res = {"count_ours": len(ours), "count_ref": len(ref), "min_iou": None, "mean_iou": None, "max_d_pred_iou": None}
    if not ours or not ref:
        return res

    def rle(s):
        return {"size": s["size"], "counts": s["counts"].encode()}

    by_point: dict[tuple, list[int]] = {}
    for j, r in enumerate(ref):
        by_point.setdefault(tuple(r["point_coords"][0]), []).append(j)
    ref_rles = [rle(r["segmentation"]) for r in ref]
    best, d_iou = [], []
    for o in ours:
        js = by_point.get(tuple(o["point_coords"][0]), [])
        if not js:
            best.append(0.0)
            continue
        ious = np.asarray(mask_utils.iou([rle(o["segmentation"])], [ref_rles[j] for j in js], [0] * len(js))).ravel()
        k = int(ious.argmax())
        best.append(float(ious[k]))
        d_iou.append(abs(o["predicted_iou"] - ref[js[k]]["predicted_iou"]))
    res.update(min_iou=min(best), mean_iou=float(np.mean(best)), max_d_pred_iou=max(d_iou) if d_iou else None)
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


def build_rows(sa, ref_model, our_model, image) -> tuple[dict, list[str]]:
    """{label: callable(kw) -> (records, seconds, breakdown)} in run order, and notes on the builds."""
    from samkit.accel.cpu_paths import choose_auto_path, openvino_available, resolve_encoder_path
    from samkit.automatic.decoder_precision import resolve_decoder_dtype
    from samkit.build import build_sam

    state = our_model.state_dict()
    notes: list[str] = []

    def twin(path: str):
        m = build_sam(our_model.config)
        m.load_state_dict(state)
        m.eval()
        t0 = time.perf_counter()
        used = resolve_encoder_path(m, path, torch.device("cpu"))
        backend = m.encoder_backend
        if backend is not None:
            notes.append(f"{used}: encoder ready in {time.perf_counter() - t0:.1f} s (first build "
                         f"{backend.cold_build_s:.1f} s, 0 when cached in ~/.cache/samkit/openvino).")
        return m, used

    rows = {"segment_anything reference, fp32": lambda kw: run_reference(sa, ref_model, image, kw)}
    fp32, _ = twin("torch-fp32")
    rows["samkit fp32"] = lambda kw: run_samkit(fp32, image, kw)
    auto_path, why = choose_auto_path(torch.device("cpu"), "vit_b")
    auto, auto_used = twin(auto_path)
    notes.insert(0, f"dtype=\"auto\" on this CPU: {auto_used} ({why}).")
    dec = resolve_decoder_dtype(auto, None)
    dec_name = str(dec).replace("torch.", "")
    rows[f"samkit auto ({auto_used}), decoder float32"] = lambda kw: run_samkit(auto, image, kw, "float32")
    if dec != torch.float32:
        rows[f"samkit auto ({auto_used}), decoder {dec_name} (default)"] = lambda kw: run_samkit(auto, image, kw)
    if openvino_available(int8=True):
        int8, int8_used = twin("openvino-int8")
        dec8 = str(resolve_decoder_dtype(int8, None)).replace("torch.", "")
        rows[f"samkit int8 ({int8_used}), decoder {dec8} (default)"] = lambda kw: run_samkit(int8, image, kw)
    else:
        notes.append("int8 row skipped: `pip install samkit[openvino]` (openvino, nncf) not installed.")
    return rows, notes


def run_config(rows: dict, kw: dict, rounds: int, name: str) -> dict:
    """Interleaved rounds: every row once per round. Returns {label: (median s, all s, breakdown of
    the median round, records of the last round)}."""
    runs: dict[str, list] = {k: [] for k in rows}
    for r in range(rounds):
        for label, fn in rows.items():
            out, total, parts = fn(kw)
            runs[label].append((total, parts, out))
            print(f"[bench_amg] {name}, round {r + 1}: {label}: {total:.1f} s ({fmt_parts(parts)}), "
                  f"{len(out)} masks", flush=True)
    res = {}
    for label, rs in runs.items():
        times = [t for t, _, _ in rs]
        med = statistics.median(times)
        mid = min(rs, key=lambda x: abs(x[0] - med))
        res[label] = (med, times, mid[1], rs[-1][2])
    return res


def table(results: dict, ref_label: str, with_parity: bool) -> list[str]:
    ref_t, _, _, ref_out = results[ref_label]
    head = "| path | median s | vs reference | breakdown s (median round) | masks | all rounds (s) |"
    if with_parity:
        head += " mask IoU vs reference, same point: mean / min | max pred-IoU diff |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, (med, times, parts, out) in results.items():
        row = (f"| {label} | {med:.1f} | {med / ref_t:.3f}x | {fmt_parts(parts)} | {len(out)} | "
               f"{', '.join(f'{t:.1f}' for t in times)} |")
        if with_parity:
            if label == ref_label:
                row += " - | - |"
            else:
                par = parity(out, ref_out)
                iou = "n/a" if par["min_iou"] is None else f"{par['mean_iou']:.4f} / {par['min_iou']:.4f}"
                d = "n/a" if par["max_d_pred_iou"] is None else f"{par['max_d_pred_iou']:.1e}"
                row += f" {iou} | {d} |"
        lines.append(row)
    return lines


def memory_lines(mems: list[dict]) -> list[str]:
    lines = ["### AMG peak memory (`python benchmarks/bench_amg.py --memory`)", "", machine_line()]
    for mem in mems:
        pts = mem.get("points_per_side", 32)
        what = "thresholds 0 (every mask through full-resolution stats, NMS, RLE)" if mem.get("thresholds0") else "default thresholds"
        lines += ["", f"samkit fp32 alone on the photo upscaled to 4000x3000, crop_n_layers=1 (5 crops), {what}, "
                      f"{pts}x{pts} points per crop (peak memory is set by one crop and one batch, not by the number "
                      f"of batches): peak RSS {mem['peak_rss_gib']:.2f} GiB, {mem['seconds']:.0f} s "
                      f"({fmt_parts(mem['parts'])}), {mem['masks']} masks."]
    lines += ["", "The reference was not run at this size: it upsamples each batch of 192 masks to 4000x3000 float "
                  "logits (~9 GB per batch) before filtering."]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="vit_b")
    ap.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds per configuration (medians)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--points", type=int, default=32, help="points per side of the default-settings run")
    ap.add_argument("--zero-points", type=int, default=16, help="points per side of the thresholds-0 parity run")
    ap.add_argument("--memory", action="store_true", help="also measure peak RSS at 4000 x 3000 with crops")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--memory-zero", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true", help="print only, do not update docs/benchmarks.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.preset, args.image, args.memory_zero)
        return

    from reference_sam import import_reference, twin_models
    from samkit import get_preset
    from samkit.cpu_features import cpu_features
    from samkit.image_io import load_image

    sa = import_reference()
    image = load_image(args.image)
    ref_model, our_model = twin_models(get_preset(args.preset), seed=0)
    rows, notes = build_rows(sa, ref_model, our_model, image)
    ref_label = next(iter(rows))
    print("[bench_amg] warm-up (2x2 points per row) ...", flush=True)
    for fn in rows.values():
        fn(dict(points_per_side=2, output_mode="coco_rle"))
    zp = args.zero_points
    pts = args.points
    default = run_config(rows, dict(points_per_side=pts, output_mode="coco_rle"), args.rounds, f"default {pts}x{pts}")
    zero = run_config(rows, dict(points_per_side=zp, pred_iou_thresh=0.0, stability_score_thresh=0.0,
                                 box_nms_thresh=1.0, output_mode="coco_rle"), args.rounds, f"thresholds 0 {zp}x{zp}")
    load = os.getloadavg()

    feats = cpu_features()
    h, w = image.shape[:2]
    cmd = " ".join(["python benchmarks/bench_amg.py", *sys.argv[1:]])
    lines = [
        f"## Automatic mask generation (`benchmarks/bench_amg.py`) on {feats.kind}: {feats.describe()}",
        "",
        machine_line() + f" Load average at the end: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (`uptime`).",
        f"Model {args.preset} with identical random weights in every row; photo `{args.image.name}` ({w}x{h}); "
        f"all rows in one process, interleaved, {args.rounds} round(s) (medians), after a 2x2-point warm-up. "
        f"Command: `{cmd}`.",
        "",
        f"### Default settings ({pts}x{pts} points, thresholds 0.88 / 0.95, NMS 0.7)",
        "",
        *table(default, ref_label, with_parity=False),
        "",
        f"### Parity: thresholds 0, NMS off ({zp}x{zp} points, every mask kept)",
        "",
        *table(zero, ref_label, with_parity=True),
        "",
        "Breakdown. Reference: encoder = `set_image`, decoder = `mask_decoder`, upscale = `postprocess_masks` "
        "(every mask to full size), postprocess = the rest (filtering, boxes, RLE, NMS). samkit: encoder "
        "(`set_image` through the row's encoder path), decoder (transformer for all points + low-res masks for "
        "the survivors of the IoU filter), postprocess (full-res stability/box/area of survivors, NMS, RLE).",
        "With random weights the predicted IoU is far below 0.88, so at default settings no mask survives and "
        "the time is encoder + the decoder's transformer on all 1024 points; the parity table is where "
        "filtering, upscaling and RLE do real work.",
        *[f"- {n}" for n in notes],
    ]
    md = "\n".join(lines)
    print(md)
    if not args.no_write:
        print("wrote", write_section(f"amg-{feats.kind}", md))

    if args.memory:
        mems = []
        for zero_t in (False, True):
            print(f"[bench_amg] memory run (4000 x 3000, crop_n_layers=1, samkit only, thresholds0={zero_t}) ...", flush=True)
            cmd = [sys.executable, __file__, "--memory-child", "--preset", args.preset, "--image", str(args.image),
                   "--threads", str(args.threads)]
            proc = subprocess.run(cmd + (["--memory-zero"] if zero_t else []), capture_output=True, text=True, check=True)
            mems.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"[bench_amg]   {mems[-1]}", flush=True)
        mem_md = "\n".join(memory_lines(mems))
        print(mem_md)
        if not args.no_write:
            print("wrote", write_section("amg-memory", mem_md))
    subprocess.run(["uptime"])


if __name__ == "__main__":
    main()
