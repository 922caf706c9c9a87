"""samkit's SAM2ImagePredictor vs the official sam2 one, side by side in one process, identical
random weights (sam2.1_hiera_t by default, build_sam2's eval post-processing on), a real photo.

Measures set_image (fp32 for both, plus samkit's bf16 encoder when the model supports it), predict
for a click (3 masks), a box (1 mask) and 8 boxes at once, and reports samkit/reference ratios, the
fp32 parity and the bf16 path's mask agreement. Runs are interleaved (ref, samkit, ref, samkit...)
so machine noise hits both sides alike. Writes docs/benchmarks.md unless --no-write.

    python benchmarks/bench_sam2_predictor.py [--preset sam2.1_hiera_t] [--image examples/coffee.png]
        [--repeats 3] [--clicks 20] [--threads N] [--no-write]
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

from reference_sam2 import import_reference_sam2, twin_sam2_models  # noqa: E402
from report import machine_line, write_section  # noqa: E402

from samkit.config_sam2 import get_sam2_preset  # noqa: E402
from samkit.image_io import load_image  # noqa: E402
from samkit.inference.sam2_predictor import SAM2ImagePredictor  # noqa: E402


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def twins(preset: str):
    """twin_sam2_models with the reference's hydra ListConfig pooling sizes made tuples."""
    from omegaconf import ListConfig

    ref, ours = twin_sam2_models(get_sam2_preset(preset).with_eval_postprocessing())
    for mod in ref.modules():
        if isinstance(mod, torch.nn.MaxPool2d):
            for name, value in list(vars(mod).items()):
                if isinstance(value, ListConfig):
                    setattr(mod, name, tuple(value))
    return ref, ours


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="sam2.1_hiera_t")
    ap.add_argument("--image", default=str(ROOT / "examples" / "coffee.png"))
    ap.add_argument("--repeats", type=int, default=3, help="set_image runs per side")
    ap.add_argument("--clicks", type=int, default=20, help="predict calls per side and prompt kind")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not update docs/benchmarks.md")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import_reference_sam2()
    from sam2.sam2_image_predictor import SAM2ImagePredictor as RefPredictor

    image = load_image(args.image)
    h, w = image.shape[:2]
    ref_model, our_model = twins(args.preset)
    ref, ours = RefPredictor(ref_model), SAM2ImagePredictor(our_model)
    s = ref_model.image_size
    ref._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    fast = None
    if hasattr(our_model, "encoder_dtype"):
        fast_model = twins(args.preset)[1]
        fast_model.encoder_dtype = torch.bfloat16
        fast = SAM2ImagePredictor(fast_model)

    sides = [("reference", ref), ("samkit fp32", ours)] + ([("samkit bf16 encoder", fast)] if fast else [])
    for _, p in sides:  # warm-up: one-off costs (allocator growth, kernel selection)
        p.set_image(image)
    t_set = {name: [] for name, _ in sides}
    for _ in range(args.repeats):
        for name, p in sides:
            t_set[name].append(timed(lambda: p.set_image(image)))

    rng = np.random.default_rng(0)
    clicks = rng.uniform([0, 0], [w, h], size=(args.clicks, 2))
    corners = rng.uniform([0, 0], [w / 2, h / 2], size=(args.clicks, 2))
    boxes = np.concatenate([corners, corners + [w / 2, h / 2]], axis=1)
    kinds = {
        "click (3 masks)": [dict(point_coords=xy[None], point_labels=np.array([1])) for xy in clicks],
        "box (1 mask)": [dict(box=b, multimask_output=False) for b in boxes],
        "8 boxes at once": [dict(box=np.roll(boxes, i, axis=0)[:8], multimask_output=False)
                            for i in range(max(args.clicks // 4, 2))],
    }
    ours.predict(**kinds["click (3 masks)"][0])  # the per-image decoder tensors (once per image)
    ref.predict(**kinds["click (3 masks)"][0])
    t_pred = {k: ([], []) for k in kinds}
    diffs, flips, fast_ious = [], 0, []
    for kind, calls in kinds.items():
        for kw in calls:
            t_pred[kind][0].append(timed(lambda: ref.predict(**kw)))
            t_pred[kind][1].append(timed(lambda: ours.predict(**kw)))
            r, o = ref.predict(**kw), ours.predict(**kw)
            diffs.append(max(float(np.abs(r[i] - o[i]).max()) for i in (1, 2)))
            flips += int((r[0] != o[0]).sum())
            if fast is not None:
                f = fast.predict(**kw)[0].astype(bool).reshape(-1, h, w)
                fast_ious += [mask_iou(a, b) for a, b in zip(o[0].astype(bool).reshape(-1, h, w), f)]
    emb_diff = float((ref.get_image_embedding() - ours.get_image_embedding()).abs().max())

    med = statistics.median
    base = med(t_set["reference"])
    rows = [(f"set_image, {name}", med(t), med(t) / base) for name, t in t_set.items()]
    for kind, (tr, to) in t_pred.items():
        rows += [(f"predict {kind}, reference", med(tr), 1.0), (f"predict {kind}, samkit", med(to), med(to) / med(tr))]
    threads = torch.get_num_threads()
    lines = [
        f"## SAM 2 image predictor: samkit vs sam2 1.1.0 ({args.preset}, identical random weights)",
        "",
        machine_line() + f" torch threads: {threads}.",
        f"Image: `{Path(args.image).name}` ({w}x{h}). Medians of {args.repeats} set_image and {args.clicks} predict "
        f"calls per side and kind, interleaved, after a warm-up. Command: `python benchmarks/bench_sam2_predictor.py --preset {args.preset}`.",
        "",
        "| what | median | samkit / reference |",
        "|---|---|---|",
    ]
    for name, t, ratio in rows:
        unit = f"{t:.2f} s" if t >= 1 else f"{t * 1e3:.1f} ms"
        lines.append(f"| {name} | {unit} | {ratio:.2f}x |")
    lines += [
        "",
        f"- fp32 parity: image embedding max abs diff {emb_diff:.2e}; IoU / low-res logits max abs diff "
        f"{max(diffs):.2e} over {len(diffs)} predict calls; {flips} full-size mask pixels differ in total.",
    ]
    if fast_ious:
        lines.append(f"- bf16 encoder vs samkit fp32: mask IoU mean {np.mean(fast_ious):.4f}, min {np.min(fast_ious):.4f} "
                     f"over {len(fast_ious)} masks.")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        from samkit.cpu_features import cpu_features

        # One section per preset and CPU kind: ratios differ between kinds (Intel AMX vs AMD), so a
        # run on one kind must not overwrite the other's table.
        print("wrote", write_section(f"sam2-predictor-cpu-{args.preset}-{cpu_features().kind}", text))


if __name__ == "__main__":
    main()
