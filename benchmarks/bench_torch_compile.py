"""Does `torch.compile` (inductor, CPU) pay for samkit's image encoders? One process, interleaved.

    python benchmarks/bench_torch_compile.py [--threads 2] [--repeats 3] [--no-sam2] [--no-write]

vit_b (random weights, the photo preprocessed once): samkit eager fp32 / bf16 (today's torch paths:
fused oneDNN linears, bf16 residual stream, the rel-pos kernel chosen for this CPU) against the same
encoder under torch.compile (default inductor; and bf16 with inductor's `freezing`, which folds the
weights into the graph as constants and pre-packs them for oneDNN), and against OpenVINO bf16 on
samkit's export (what dtype="auto" runs on fast-bf16 CPUs when the extra is installed). SAM 2
sam2.1_hiera_t (trunk + FPN neck, 1024x1024): eager vs compiled fp32 / bf16 vs OpenVINO bf16.
Reports the compile + first call and the second call of every compiled row, medians of --repeats
interleaved rounds after those, mask IoU vs samkit fp32 eager over 20 clicks x 3 masks (vit_b) or
the relative L2 error of the features (Hiera), and writes the `torch-compile` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

from report import write_section  # noqa: E402

COCO = ROOT.parent / "shared" / "data" / "coco" / "images" / "train2017" / "000000000009.jpg"
DEFAULT_IMAGE = COCO if COCO.is_file() else ROOT / "examples" / "chelsea.png"
BF16 = torch.bfloat16


def compiled_call(module: torch.nn.Module, bf16: bool, freezing: bool = False):
    """A callable x -> features running `module` under torch.compile (the first call compiles).
    Each torch.compile call is its own backend, and dynamo guards on the backend and on the autocast
    state, so the rows below never share compiled code."""
    fn = torch.compile(module, options={"freezing": True} if freezing else None)

    def call(x):
        with torch.no_grad(), torch.autocast("cpu", dtype=BF16, enabled=bf16):
            return fn(x)
    return call


def pinned(encoder: torch.nn.Module, bf16: bool) -> torch.nn.Module:
    """A copy of samkit's ViT encoder with each block's rel-pos kernel fixed to what eager picks for
    the dtype (choose_kernel reads /proc/cpuinfo, which would be a graph break inside compile)."""
    import copy

    from samkit.modeling.relpos_kernels import choose_kernel

    enc = copy.deepcopy(encoder)
    kernel = choose_kernel(BF16 if bf16 else torch.float32, torch.device("cpu"))
    for blk in enc.blocks:
        blk.attn.kernel = kernel
    return enc


def eager_call(module: torch.nn.Module, bf16: bool):
    def call(x):
        with torch.no_grad(), torch.autocast("cpu", dtype=BF16, enabled=bf16):
            return module(x)
    return call


def _first(out):
    """Hiera's encoder returns a dict; its vision_features are what the decoder reads."""
    return (out["vision_features"] if isinstance(out, dict) else out).float()


def openvino_sam2_call(encoder: torch.nn.Module, x: torch.Tensor, threads: int):
    """OpenVINO bf16 on the Hiera encoder's ONNX export (as bench_cpu_paths.py --sam2 builds it)."""
    import openvino as ov

    from samkit.export.decoder_export import export_context

    onnx_path = Path(tempfile.mkdtemp(prefix="samkit-compile-ov-")) / "encoder.onnx"
    with export_context(), torch.no_grad():
        torch.onnx.export(encoder.eval(), (x,), dynamo=True, opset_version=18, optimize=True).save(str(onnx_path))
    compiled = ov.Core().compile_model(str(onnx_path), "CPU", {"INFERENCE_PRECISION_HINT": "bf16",
                                                              "PERFORMANCE_HINT": "LATENCY",
                                                              "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    with torch.no_grad():
        want_shape = tuple(_first(encoder(x)).shape)

    def call(inp):
        outs = request.infer({0: inp.numpy()}).values()
        return torch.from_numpy(next(o for o in outs if tuple(o.shape) == want_shape).copy())
    return call


def first_calls(rows: dict, x: torch.Tensor, notes: list[str]) -> dict[str, tuple[float, float]]:
    """(first call s, second call s) per row: for compiled rows the first call includes compiling.
    A row that fails to compile is dropped from `rows` with a note."""
    out = {}
    for label, fn in list(rows.items()):
        print(f"[bench_torch_compile] first calls: {label} ...", flush=True)
        t0 = time.perf_counter()
        try:
            fn(x)
        except Exception as e:  # a compiler failure is a result, not a crash of the whole run
            notes.append(f"{label}: failed ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}).")
            del rows[label]
            continue
        t1 = time.perf_counter()
        fn(x)
        out[label] = (t1 - t0, time.perf_counter() - t1)
        print(f"[bench_torch_compile]   first {out[label][0]:.1f} s, second {out[label][1]:.2f} s", flush=True)
    return out


def interleaved(rows: dict, x: torch.Tensor, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in rows}
    for _ in range(repeats):
        for k, fn in rows.items():
            t = time.perf_counter()
            fn(x)
            times[k].append(time.perf_counter() - t)
    return times


def mask_agreement(model, image: np.ndarray, features: dict[str, torch.Tensor], ref_label: str) -> dict:
    """Mask IoU (mean, min) vs the reference row's features over 20 clicks x 3 masks."""
    from samkit import SamPredictor
    from samkit.inference.embedding import ImageEmbedding

    p = SamPredictor(model)
    p.set_image(image)  # for the frames (original / input size); each row's features are set below
    sizes = (p.original_size, p.input_size)
    h, w = image.shape[:2]
    clicks = np.random.default_rng(0).uniform([0, 0], [w, h], size=(20, 2))

    def masks(feat):
        p.set_embedding(ImageEmbedding(feat, *sizes))  # resets the predictor's per-image decoder state
        return [p.predict(point_coords=xy[None], point_labels=np.array([1]), multimask_output=True)[0] for xy in clicks]

    ref = masks(features[ref_label])
    res = {}
    for label, feat in features.items():
        if label == ref_label:
            continue
        ious = []
        for a, b in zip(ref, masks(feat)):
            for i in range(3):
                union = np.logical_or(a[i], b[i]).sum()
                ious.append(1.0 if union == 0 else float(np.logical_and(a[i], b[i]).sum() / union))
        res[label] = (float(np.mean(ious)), float(np.min(ious)))
    return res


def vit_b_rows(image: np.ndarray):
    from samkit import SamPredictor, build_sam, get_preset
    from samkit.accel.cpu_paths import openvino_available, resolve_encoder_path

    torch.manual_seed(0)
    model = build_sam(get_preset("vit_b")).eval()
    p = SamPredictor(model)
    x = model.preprocess(torch.as_tensor(p.transform.apply_image(image)).permute(2, 0, 1)[None].float())
    enc32, enc16 = pinned(model.image_encoder, False), pinned(model.image_encoder, True)
    rows = {
        "vit_b samkit fp32, eager": eager_call(enc32, False),
        "vit_b samkit fp32, torch.compile": compiled_call(enc32, False),
        "vit_b samkit bf16, eager": eager_call(enc16, True),
        "vit_b samkit bf16, torch.compile": compiled_call(enc16, True),
        "vit_b samkit bf16, torch.compile + freezing": compiled_call(enc16, True, freezing=True),
    }
    notes = []
    if openvino_available():
        ov_model = build_sam(get_preset("vit_b")).eval()
        ov_model.load_state_dict(model.state_dict())
        resolve_encoder_path(ov_model, "openvino-bf16", torch.device("cpu"))
        rows["vit_b OpenVINO bf16 (dtype=\"auto\" here)"] = lambda inp: ov_model.encode_images(inp)
    else:
        notes.append("OpenVINO row skipped: `pip install samkit[openvino]` not installed.")
    return model, x, rows, notes


def hiera_rows(threads: int):
    from samkit import load_model
    from samkit.accel.cpu_paths import openvino_available

    torch.manual_seed(0)
    model = load_model("sam2.1_hiera_t", dtype="float32")
    size = model.image_size
    x = torch.randn(1, 3, size, size)
    enc = model.image_encoder.eval()
    rows = {
        "hiera_t samkit fp32, eager": eager_call(enc, False),
        "hiera_t samkit fp32, torch.compile": compiled_call(enc, False),
        "hiera_t samkit bf16, eager": eager_call(enc, True),
        "hiera_t samkit bf16, torch.compile": compiled_call(enc, True),
    }
    if openvino_available():
        rows["hiera_t OpenVINO bf16"] = openvino_sam2_call(enc, x, threads)
    return x, rows


def table(title: str, times: dict, firsts: dict, quality: dict, base: str, quality_head: str) -> list[str]:
    b = statistics.median(times[base])
    lines = [title, "", f"| path | median | vs {base} | compile + first call | second call | {quality_head} | all rounds (s) |",
             "|---|---:|---:|---:|---:|---|---|"]
    for k, v in times.items():
        first, second = firsts[k]
        lines.append(f"| {k} | {statistics.median(v):.2f} s | {statistics.median(v) / b:.2f}x | {first:.1f} s | "
                     f"{second:.2f} s | {quality.get(k, '-')} | {', '.join(f'{t:.2f}' for t in v)} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--image", default=str(DEFAULT_IMAGE))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-sam2", action="store_true", help="vit_b only")
    ap.add_argument("--no-write", action="store_true", help="print only, do not update docs/benchmarks.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # A cold inductor cache, so "compile + first call" is what a first run pays (later processes
    # reuse ~/.cache or /tmp/torchinductor_* and pay less).
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="samkit-inductor-")

    from samkit.cpu_features import cpu_features
    from samkit.image_io import load_image

    image = load_image(args.image)
    model, x, rows, notes = vit_b_rows(image)
    firsts = first_calls(rows, x, notes)
    times = interleaved(rows, x, args.repeats)
    with torch.no_grad():
        feats = {k: _first(fn(x)) for k, fn in rows.items()}
    agree = mask_agreement(model, image, feats, "vit_b samkit fp32, eager")
    quality = {k: f"{m:.4f} / {n:.4f}" for k, (m, n) in agree.items()}
    auto_label = next((k for k in rows if "OpenVINO" in k), "vit_b samkit bf16, eager")
    lines = table("### vit_b image encoder (1024x1024, one photo)", times, firsts, quality, auto_label,
                  "mask IoU vs fp32 eager, mean / min (60 masks)")

    if not args.no_sam2:
        hx, hrows = hiera_rows(args.threads)
        hfirsts = first_calls(hrows, hx, notes)
        htimes = interleaved(hrows, hx, args.repeats)
        with torch.no_grad():
            hfeats = {k: _first(fn(hx)) for k, fn in hrows.items()}
        ref = hfeats["hiera_t samkit fp32, eager"]
        hq = {k: f"{float((v - ref).norm() / ref.norm()):.1e}" for k, v in hfeats.items() if not k.endswith("fp32, eager")}
        hbase = next((k for k in hrows if "OpenVINO" in k), "hiera_t samkit bf16, eager")
        lines += [""] + table("### SAM 2 sam2.1_hiera_t image encoder (trunk + FPN neck, 1024x1024, random input)",
                              htimes, hfirsts, hq, hbase, "vision_features relative L2 vs fp32 eager")

    load = os.getloadavg()
    f = cpu_features()
    head = [
        f"## torch.compile for the CPU encoders (`benchmarks/bench_torch_compile.py`) on {f.kind}: {f.describe()}",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__} (inductor, C++ "
        f"backend), {args.threads} threads; load average at the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} "
        f"(`uptime`). Random weights; medians of {args.repeats} interleaved rounds after each row's first two "
        f"calls, one process; a cold inductor cache (compile + first call is what a first run pays). "
        f"Command: `{' '.join(['python benchmarks/bench_torch_compile.py', *sys.argv[1:]])}`.",
        "",
    ]
    text = "\n".join(head + lines + [f"- {n}" for n in notes])
    print(text)
    if not args.no_write:
        print("wrote", write_section(f"torch-compile-{f.kind}", text))
    subprocess.run(["uptime"])


if __name__ == "__main__":
    main()
