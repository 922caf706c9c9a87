"""SAM 2's part of benchmarks/bench_cpu_paths.py (run with --sam2): every image-encoder path for a
SAM 2 preset side by side, through SAM2ImagePredictor.set_image on one photo.

Rows: sam2 1.1.0 reference fp32 (identical random weights), samkit fp32 / bf16 (torch), OpenVINO
fp32 / bf16 / NNCF int8 on samkit's export of the image features (Hiera trunk + FPN neck + the
decoder's high-res projections, samkit.accel.encoder_graphs), and what dtype="auto" picks. Medians
of interleaved rounds in one process; mask IoU vs samkit fp32 over 20 clicks x 3 masks; the cold
build and the first set_image after a cached load.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from samkit.accel.cpu_paths import choose_auto_path, openvino_available, resolve_encoder_path
from samkit.builder_sam2 import build_sam2_model
from samkit.inference.sam2_predictor import SAM2ImagePredictor

MASK_BOUND = (0.99, 0.95)  # IoU mean, min vs fp32 a path needs to be chosen by "auto"
PATH_OF_ROW = {"samkit fp32": "torch-fp32", "samkit bf16": "torch-bf16", "OpenVINO fp32": "openvino-fp32",
               "OpenVINO bf16": "openvino-bf16", "OpenVINO + NNCF int8": "openvino-int8"}


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _reference(preset: str, notes: list[str]):
    """(reference predictor or None, samkit fp32 SAM2Base with the same weights)."""
    from samkit.config_sam2 import get_sam2_preset

    try:
        from bench_sam2_predictor import twins
        from reference_sam2 import import_reference_sam2

        import_reference_sam2()
        from sam2.sam2_image_predictor import SAM2ImagePredictor as RefPredictor

        ref_model, base = twins(preset)
        ref = RefPredictor(ref_model)
        s = ref_model.image_size
        ref._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
        return ref, base
    except ImportError as e:
        notes.append(f"reference row skipped: {e}")
        torch.manual_seed(0)
        return None, build_sam2_model(get_sam2_preset(preset).with_eval_postprocessing()).eval()


def sam2_section(preset: str, image: np.ndarray, repeats: int, ov_cache: Path) -> tuple[str, dict]:
    """(markdown table + notes, {path: median seconds} of the paths within MASK_BOUND)."""
    notes: list[str] = []
    h, w = image.shape[:2]
    ref, base = _reference(preset, notes)
    state = base.state_dict()

    def twin(encoder_dtype=torch.float32):
        m = build_sam2_model(base.config)
        m.load_state_dict(state)
        m.encoder_dtype = encoder_dtype
        return m.eval()

    auto_path, auto_why = choose_auto_path(torch.device("cpu"), preset)  # before the bench's private cache
    rows: dict[str, object] = {}
    if ref is not None:
        rows["sam2 1.1.0 reference, fp32"] = ref
    rows["samkit fp32"] = SAM2ImagePredictor(base)
    rows["samkit bf16"] = SAM2ImagePredictor(twin(torch.bfloat16))
    builds = []
    user_cache = os.environ.get("SAMKIT_CACHE_DIR")
    os.environ["SAMKIT_CACHE_DIR"] = str(ov_cache)  # cold builds here; the user's cache is untouched
    try:
        if openvino_available(int8=True):
            for label in ("OpenVINO fp32", "OpenVINO bf16", "OpenVINO + NNCF int8", "cached"):
                path = "openvino-bf16" if label == "cached" else PATH_OF_ROW[label]
                m = twin()
                t0 = time.perf_counter()
                used = resolve_encoder_path(m, path, torch.device("cpu"))
                p = SAM2ImagePredictor(m)
                t1 = time.perf_counter()
                p.set_image(image)
                first = time.perf_counter() - t1
                cold = m.encoder_backend.cold_build_s if m.encoder_backend is not None else float("nan")
                builds.append((label if label != "cached" else "OpenVINO bf16, cached load", used, cold,
                               t1 - t0, first))
                if label != "cached":
                    rows[label] = p
        else:
            notes.append("OpenVINO rows skipped: `pip install samkit[openvino]` (openvino, nncf) not installed")
        auto_model = twin()
        auto_used = resolve_encoder_path(auto_model, auto_path, torch.device("cpu"))
        rows[f"auto -> {auto_used}"] = SAM2ImagePredictor(auto_model)
    finally:
        if user_cache is None:
            os.environ.pop("SAMKIT_CACHE_DIR", None)
        else:
            os.environ["SAMKIT_CACHE_DIR"] = user_cache

    for p in rows.values():  # warm-up (allocator growth, kernel selection, OpenVINO's first infer)
        p.set_image(image)
    times = {k: [] for k in rows}
    for _ in range(repeats):
        for k, p in rows.items():
            t = time.perf_counter()
            p.set_image(image)
            times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}

    clicks = np.random.default_rng(0).uniform([0, 0], [w, h], size=(20, 2))
    fp32 = rows["samkit fp32"]
    ious = {}
    for k, p in rows.items():
        if p is fp32:
            continue
        vals = []
        for xy in clicks:
            kw = dict(point_coords=xy[None], point_labels=np.array([1]), multimask_output=True)
            a, b = fp32.predict(**kw)[0] > 0, p.predict(**kw)[0] > 0
            vals += [mask_iou(a[i], b[i]) for i in range(3)]
        ious[k] = (float(np.mean(vals)), float(np.min(vals)))
    errors = {}
    want = fp32.get_image_embedding()
    for k, p in rows.items():
        if p is not fp32:
            errors[k] = float((p.get_image_embedding() - want).norm() / want.norm())

    base_key = "sam2 1.1.0 reference, fp32" if ref is not None else "samkit fp32"
    lines = [f"#### {preset} ({base.image_size}x{base.image_size} input, random weights)", "",
             f"| path | set_image median | vs {'reference' if ref is not None else 'samkit'} fp32 | "
             "mask IoU vs samkit fp32, mean / min (60 masks) | embedding rel. L2 vs fp32 | all rounds (s) |",
             "|---|---:|---:|---|---:|---|"]
    for k in rows:
        iou = ious.get(k)
        lines.append(f"| {k} | {med[k]:.2f} s | {med[k] / med[base_key]:.2f}x | "
                     f"{'-' if iou is None else f'{iou[0]:.4f} / {iou[1]:.4f}'} | "
                     f"{'-' if k not in errors else f'{errors[k]:.4f}'} | {', '.join(f'{t:.2f}' for t in times[k])} |")
    lines.append("")
    lines.append(f"- auto picked {auto_path} ({auto_why}).")
    for label, used, cold, load_s, first in builds:
        steady = med.get(label.replace(", cached load", ""), float("nan"))
        build = "IR from the disk cache" if cold == 0 else f"first build {cold:.1f} s (" + (
            "NNCF on the float IR built above)" if "int8" in label else "export + convert)")
        lines.append(f"- {label} ({used}): {build}, load {load_s:.2f} s, first set_image {first:.2f} s"
                     + (f" = {first / steady:.1f}x the steady state" if "cached" in label else "") + ".")
    seconds, excluded = {}, []
    for k, path in PATH_OF_ROW.items():
        if k not in med or "int8" in k:  # int8 is asked for, never picked by auto
            continue
        if k != "samkit fp32" and (ious[k][0] < MASK_BOUND[0] or ious[k][1] < MASK_BOUND[1]):
            excluded.append(f"{k} (IoU {ious[k][0]:.4f} / {ious[k][1]:.4f})")
            continue
        seconds[path] = med[k]
    if excluded:
        lines.append(f"- below the mask bound (mean {MASK_BOUND[0]}, min {MASK_BOUND[1]}), not recorded for auto: "
                     + ", ".join(excluded) + ".")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines), seconds
