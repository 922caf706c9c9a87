"""Every CPU encoder path side by side on this CPU: vit_b, identical random weights, one photo.

Rows: segment_anything fp32; samkit fp32 (chunked-mask and folded rel-pos attention); samkit bf16
with plain autocast (residual stream fp32, the path before this change) and with the bf16 residual
stream under each rel-pos kernel (masked / folded / blockwise); what dtype="auto" picks without a
measurement; onnxruntime fp32 and OpenVINO fp32 / bf16 / NNCF int8 on samkit's own ONNX export.
set_image medians of interleaved rounds in one process; mask IoU vs samkit fp32 over 20 clicks x 3
masks; the first set_image after load_model with the OpenVINO encoder cold (export + convert +
compile) and cached. Records the medians in ~/.cache/samkit/cpu_paths.json (what "auto" reads)
and writes its per-CPU-kind table into docs/benchmarks.md (section cpu-paths-table-KIND).

    python benchmarks/bench_cpu_paths.py [--threads 2] [--repeats 3] [--image PATH] [--no-write]
    python benchmarks/bench_cpu_paths.py --sam2   # SAM 2: sam2.1_hiera_t and sam2.1_hiera_b+ (cpu_paths_sam2.py)
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
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from reference_sam import import_reference, twin_models  # noqa: E402
from report import write_section  # noqa: E402

from samkit import SamPredictor, get_preset, load_image  # noqa: E402
from samkit.accel.cpu_paths import choose_auto_path, openvino_available, record_measurement, resolve_encoder_path  # noqa: E402
from samkit.build import build_sam  # noqa: E402
from samkit.cpu_features import cpu_features  # noqa: E402
from samkit.modeling.relpos_kernels import choose_kernel  # noqa: E402

COCO = ROOT.parent / "shared" / "data" / "coco" / "images" / "train2017" / "000000000009.jpg"
DEFAULT_IMAGE = COCO if COCO.is_file() else ROOT / "examples" / "chelsea.png"
SAM2_IMAGE = ROOT / "examples" / "coffee.png"  # the SAM 2 predictor benchmarks' photo


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


class OrtPredictor:
    """set_image through onnxruntime on samkit's exported encoder (HxWx3 input, resize outside)."""

    def __init__(self, model, onnx_path: Path, threads: int) -> None:
        import onnxruntime as ort

        from samkit.inference.transforms import ResizeLongestSide

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        self.transform = ResizeLongestSide(model.image_encoder.img_size)

    def set_image(self, image: np.ndarray) -> None:
        self.features = self.session.run(None, {"input_image": self.transform.apply_image(image).astype(np.float32)})[0]


def sam2_main(presets: list[str], image_path: str, repeats: int, threads: int, write: bool) -> None:
    """The SAM 2 tables (benchmarks/cpu_paths_sam2.py), one per preset, into section cpu-paths-sam2-KIND."""
    from cpu_paths_sam2 import sam2_section

    image = load_image(image_path)
    feats = cpu_features()
    ov_cache = Path(tempfile.mkdtemp(prefix="samkit-ov-bench-sam2-"))
    parts = []
    for preset in presets:
        text, seconds = sam2_section(preset, image, repeats, ov_cache)
        print(text, flush=True)
        parts.append(text)
        if write:
            print("recorded", record_measurement(preset, seconds))
    load = os.getloadavg()
    h, w = image.shape[:2]
    head = [f"### SAM 2 image encoders, {feats.kind}: {feats.describe()}", "",
            f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__}, {threads} threads"
            + (f", OpenVINO {__import__('openvino').get_version().split('-')[0]}" if openvino_available() else "")
            + f". Load average at the end: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (`uptime`; 2 cores, shared).",
            f"Image `{Path(image_path).name}` ({w}x{h}); identical random weights per preset; SAM2ImagePredictor.set_image "
            f"medians of {repeats} interleaved rounds after a warm-up, one process. Command: "
            f"`python benchmarks/bench_cpu_paths.py --sam2 {' '.join(presets)}`.", ""]
    text = "\n".join(head) + "\n" + "\n\n".join(parts)
    if write:
        print("wrote", write_section(f"cpu-paths-sam2-{feats.kind}", text))
    subprocess.run(["uptime"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--image", default=str(DEFAULT_IMAGE))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; no docs, no cpu_paths.json")
    ap.add_argument("--sam2", metavar="PRESET", nargs="*",
                    help="the SAM 2 tables instead (default presets: sam2.1_hiera_t sam2.1_hiera_b+)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.sam2 is not None:
        sam2_main(args.sam2 or ["sam2.1_hiera_t", "sam2.1_hiera_b+"],
                  args.image if args.image != str(DEFAULT_IMAGE) else str(SAM2_IMAGE), args.repeats, args.threads,
                  not args.no_write)
        return
    image = load_image(args.image)
    h, w = image.shape[:2]
    cfg = get_preset("vit_b")
    sa = import_reference()
    ref_model, base = twin_models(cfg)
    state = base.state_dict()
    feats = cpu_features()

    def twin():
        m = build_sam(cfg)
        m.load_state_dict(state)
        return m.eval()

    def torch_row(dtype, kernel, carry=True):
        m = twin()
        m.encoder_dtype = dtype
        m.image_encoder.carry_autocast_dtype = carry
        for blk in m.image_encoder.blocks:
            blk.attn.kernel = kernel
        return SamPredictor(m)

    rows: dict[str, object] = {
        "segment_anything reference, fp32": sa.SamPredictor(ref_model),
        "samkit fp32, chunked-mask attention": torch_row(torch.float32, "masked"),
        "samkit fp32, folded attention": torch_row(torch.float32, "folded"),
    }
    if feats.has_fast_bf16:
        rows["samkit bf16, plain autocast + folded (before)"] = torch_row(torch.bfloat16, "folded", carry=False)
        for k in ("masked", "folded", "blockwise"):
            rows[f"samkit bf16, bf16 stream + {k} attention"] = torch_row(torch.bfloat16, k)
    auto_path, auto_why = choose_auto_path(torch.device("cpu"), "vit_b")
    notes = []
    build_times = {}
    cache_dir = Path(tempfile.mkdtemp(prefix="samkit-ov-bench-"))
    user_cache = os.environ.get("SAMKIT_CACHE_DIR")
    os.environ["SAMKIT_CACHE_DIR"] = str(cache_dir)  # cold builds here; the user's cache is untouched
    try:
        import onnxruntime  # noqa: F401

        from samkit.export.encoder_export import export_encoder

        onnx_path = export_encoder(base, cache_dir / "encoder_hw3.onnx")
        rows["onnxruntime fp32, samkit's exported encoder"] = OrtPredictor(base, onnx_path, args.threads)
    except ImportError as e:
        notes.append(f"onnxruntime row skipped: {e}")
    if openvino_available(int8=True):
        for path in ("openvino-fp32", "openvino-bf16", "openvino-int8"):
            m = twin()
            t0 = time.perf_counter()
            resolve_encoder_path(m, path, torch.device("cpu"))
            p = SamPredictor(m)
            t1 = time.perf_counter()
            p.set_image(image)
            build_times[path] = (m.encoder_backend.cold_build_s, t1 - t0, time.perf_counter() - t1)
            label = {"openvino-fp32": "OpenVINO fp32", "openvino-bf16": "OpenVINO bf16",
                     "openvino-int8": "OpenVINO + NNCF int8 (calibrated on examples/), rest bf16"}[path]
            rows[f"{label}, samkit's exported encoder"] = p
        # Cached: a fresh load_model-equivalent reads the IR from disk and compiles (blob cached).
        for path in ("openvino-bf16",):
            m = twin()
            t0 = time.perf_counter()
            resolve_encoder_path(m, path, torch.device("cpu"))
            p = SamPredictor(m)
            t1 = time.perf_counter()
            p.set_image(image)
            build_times[path + " (cached)"] = (m.encoder_backend.cold_build_s, t1 - t0, time.perf_counter() - t1)
    else:
        notes.append("OpenVINO rows skipped: `pip install samkit[openvino]` (openvino, nncf) not installed")
    auto_label = f"auto (no measurement yet) -> {auto_path}"
    auto_model = twin()
    resolve_encoder_path(auto_model, auto_path, torch.device("cpu"))
    rows[auto_label] = SamPredictor(auto_model)

    for p in rows.values():  # warm-up
        p.set_image(image)
    times = {k: [] for k in rows}
    for _ in range(args.repeats):
        for k, p in rows.items():
            t = time.perf_counter()
            p.set_image(image)
            times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}

    # Mask agreement with samkit fp32 (20 clicks x 3 masks).
    rng = np.random.default_rng(0)
    clicks = rng.uniform([0, 0], [w, h], size=(20, 2))
    fp32 = rows["samkit fp32, chunked-mask attention"]
    ious = {}
    for k, p in rows.items():
        if not isinstance(p, SamPredictor) or p is fp32:
            continue
        vals = []
        for xy in clicks:
            kw = dict(point_coords=xy[None], point_labels=np.array([1]), multimask_output=True)
            a, b = fp32.predict(**kw)[0], p.predict(**kw)[0]
            vals += [mask_iou(a[i], b[i]) for i in range(3)]
        ious[k] = (float(np.mean(vals)), float(np.min(vals)))
    ref_emb = fp32.get_image_embedding()
    parity = float((rows["segment_anything reference, fp32"].get_image_embedding() - ref_emb).abs().max())

    base_t = med["segment_anything reference, fp32"]
    load = os.getloadavg()
    lines = [
        f"### {feats.kind}: {feats.describe()}",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__}, {args.threads} threads"
        + (f", OpenVINO {__import__('openvino').get_version().split('-')[0]}" if openvino_available() else "")
        + f". Load average at the end: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (`uptime`; 2 cores, shared).",
        f"Image `{Path(args.image).name}` ({w}x{h}); vit_b, identical random weights; medians of {args.repeats} "
        "interleaved rounds after a warm-up, one process. Command: `python benchmarks/bench_cpu_paths.py`.",
        "",
        "| path | set_image median | vs reference fp32 | mask IoU vs fp32 mean / min (60 masks) | all rounds (s) |",
        "|---|---:|---:|---|---|",
    ]
    for k in rows:
        iou = ious.get(k)
        lines.append(f"| {k} | {med[k]:.2f} s | {med[k] / base_t:.2f}x | "
                     f"{'-' if iou is None else f'{iou[0]:.4f} / {iou[1]:.4f}'} | "
                     f"{', '.join(f'{t:.2f}' for t in times[k])} |")
    lines += ["", f"- samkit fp32 vs segment_anything fp32, image embedding max abs diff {parity:.2e}.",
              f"- auto without a measurement picked {auto_path}: {auto_why}."]
    for path, (cold, load_s, first) in build_times.items():
        lines.append(f"- {path}: first build {cold:.1f} s (export + convert" + (" + NNCF" if "int8" in path else "")
                     + f"), load {load_s:.2f} s, then first set_image {first:.2f} s.")
    lines += [f"- {n}" for n in notes]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        name_of = {"samkit fp32, chunked-mask attention": "torch-fp32", "OpenVINO fp32, samkit's exported encoder": "openvino-fp32",
                   "OpenVINO bf16, samkit's exported encoder": "openvino-bf16"}
        chosen = choose_kernel(torch.bfloat16, torch.device("cpu"))
        bf16_rows = [k for k in rows if k.startswith(f"samkit bf16, bf16 stream + {chosen}")]
        seconds = {v: med[k] for k, v in name_of.items() if k in med}
        if bf16_rows:
            seconds["torch-bf16"] = med[bf16_rows[0]]
        if user_cache is None:  # "auto" reads the user's measurements, not the bench's private cache
            os.environ.pop("SAMKIT_CACHE_DIR", None)
        else:
            os.environ["SAMKIT_CACHE_DIR"] = user_cache
        print("recorded", record_measurement("vit_b", seconds))
        print("wrote", write_section(f"cpu-paths-table-{feats.kind}", text))
    subprocess.run(["uptime"])


if __name__ == "__main__":
    main()
