"""ONNX decoder per-click latency in onnxruntime (CPU, Python), fp32 vs int8, file sizes, parity.

The vit_b-sized decoder (the same for every real preset) with random weights, exported by samkit.
A "click" is one decoder run with the prompts an annotator sends: 1 point (+ padding point) and no
mask, or 5 points + the previous low-res mask; masks come back at original size (480 x 640, a COCO
photo). PyTorch's decoder on the same prompt is measured in the same run for reference.

    PYTHONPATH=src python benchmarks/bench_onnx.py [--runs 50] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine_line, write_section  # noqa: E402

from samkit.build import build_sam  # noqa: E402
from samkit.export import check_decoder_parity, export_decoder, mask_iou_between, quantize_decoder  # noqa: E402
from samkit.export.parity import DecoderCase, onnx_session, random_cases, torch_outputs  # noqa: E402

ORIG_HW = (480, 640)


def click_cases(model) -> dict[str, DecoderCase]:
    rng = np.random.default_rng(0)
    h, w = (int(s) for s in model.prompt_encoder.image_embedding_size)
    in_w, in_h = 1024, 768
    return {
        "1 point": DecoderCase(ORIG_HW, np.array([[400.0, 300.0]], np.float32), np.array([1]), None, None),
        "5 points + mask": DecoderCase(ORIG_HW, (rng.random((5, 2)) * [in_w, in_h]).astype(np.float32),
                                       rng.integers(0, 2, 5), None,
                                       rng.normal(0, 3, (1, 4 * h, 4 * w)).astype(np.float32)),
    }


def time_ms(fn, runs: int) -> tuple[float, float]:
    fn()  # warm-up (first run allocates)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    torch.manual_seed(0)
    model = build_sam("vit_b").eval()
    emb = torch.randn(1, 256, 64, 64, generator=torch.Generator().manual_seed(1))
    out = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
    t = time.perf_counter()
    fp32 = export_decoder(model, out / "decoder.onnx")
    export_s = time.perf_counter() - t
    int8 = quantize_decoder(fp32, out / "decoder.int8.onnx")
    single = export_decoder(model, out / "decoder.single.onnx", single_mask=True, stability_output=False)
    print(f"exported in {export_s:.1f} s", flush=True)

    torch.set_num_threads(1)
    parity = check_decoder_parity(model, fp32, random_cases(model, max_points=10))
    parity_single = check_decoder_parity(model, single, random_cases(model, max_points=4))
    mean_iou, min_iou = mask_iou_between(fp32, int8, model, random_cases(model, max_points=10))
    print(parity.summary(), f"int8 IoU mean {mean_iou:.4f} min {min_iou:.4f}", flush=True)

    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        sessions = {"onnxruntime fp32": onnx_session(fp32, threads), "onnxruntime int8": onnx_session(int8, threads)}
        for case_name, case in click_cases(model).items():
            feed = case.onnx_feed(emb.numpy())
            for label, sess in sessions.items():
                p50, p95 = time_ms(lambda s=sess: s.run(None, feed), args.runs)
                rows.append((threads, case_name, label, p50, p95))
                print(rows[-1], flush=True)
            with torch.inference_mode():
                p50, p95 = time_ms(lambda c=case: torch_outputs(model, emb, c), args.runs)
            rows.append((threads, case_name, "PyTorch (2 decoder calls: single + multimask)", p50, p95))
            print(rows[-1], flush=True)

    mb = lambda p: p.stat().st_size / 2**20  # noqa: E731
    lines = [
        "## ONNX decoder (samkit export-onnx)", "",
        machine_line() + " onnxruntime CPU execution provider, Python.", "",
        f"vit_b-sized decoder (random weights), masks returned at {ORIG_HW[0]} x {ORIG_HW[1]}; "
        f"{args.runs} runs after one warm-up; other agents shared the 2 CPU cores during the run, so "
        "compare rows against each other rather than with other machines.", "",
        "| threads | prompt | runtime | p50 ms | p95 ms |", "|---|---|---|---|---|",
        *[f"| {t} | {c} | {r} | {p50:.1f} | {p95:.1f} |" for t, c, r, p50, p95 in rows], "",
        "| file | size MB |", "|---|---|",
        f"| decoder.onnx (fp32, 4 masks + stability) | {mb(fp32):.1f} |",
        f"| decoder.int8.onnx (dynamic int8 MatMul weights) | {mb(int8):.1f} |",
        f"| decoder single-mask variant (fp32) | {mb(single):.1f} |", "",
        f"Export (dynamo) took {export_s:.0f} s. Parity vs PyTorch, {parity.summary()}. "
        f"Single-mask variant: {parity_single.summary()}. "
        f"int8 vs fp32 masks IoU over 40 prompts x 4 masks: mean {mean_iou:.4f}, min {min_iou:.4f}.",
    ]
    write_section("onnx", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
