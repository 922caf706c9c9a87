"""SAM 2 parity for all four SAM 2.1 presets: samkit vs the official sam2 package (PyPI 1.1.0) on
identical random weights and a real photo, fp32. The test suite covers hiera_t and hiera_b+; this
script adds hiera_s and hiera_l (too slow for CI) and writes one table.

    python benchmarks/parity_sam2.py [--presets sam2.1_hiera_t sam2.1_hiera_s sam2.1_hiera_b+ sam2.1_hiera_l]
        [--image examples/coffee.png] [--no-write]

Per preset: max |samkit - reference| over the image embedding and both high-res feature maps, then
over the low-res logits and IoU predictions of seven prompt kinds (one click with 3 masks, one
click with 1 mask, fg + bg clicks, a box, click + box, the best low-res mask fed back with a click,
4 boxes at once), the object-score logits of `_forward_sam_heads`, and the count of full-size mask
pixels that differ (a pixel can differ only where the logit sits within float error of 0).
"""

from __future__ import annotations

import argparse
import sys
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

PRESETS = ["sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l"]


def prompt_cases(h: int, w: int) -> dict[str, dict]:
    cx, cy = w * 0.45, h * 0.5
    box = np.array([w * 0.2, h * 0.25, w * 0.7, h * 0.8])
    boxes = np.stack([box, box * 0.9, box + [10, 5, 10, 5], box * [1.1, 1.0, 1.0, 1.1]])
    return {
        "click, 3 masks": dict(point_coords=np.array([[cx, cy]]), point_labels=np.array([1]), multimask_output=True),
        "click, 1 mask": dict(point_coords=np.array([[cx, cy]]), point_labels=np.array([1]), multimask_output=False),
        "fg + bg clicks": dict(point_coords=np.array([[cx, cy], [w * 0.1, h * 0.1]]), point_labels=np.array([1, 0]),
                               multimask_output=False),
        "box": dict(box=box, multimask_output=False),
        "click + box": dict(point_coords=np.array([[cx, cy]]), point_labels=np.array([1]), box=box,
                            multimask_output=False),
        "4 boxes": dict(box=boxes, multimask_output=False),
    }


def compare(preset: str, image: np.ndarray) -> dict:
    torch.manual_seed(0)
    ref_model, our_model = twin_sam2_models(get_sam2_preset(preset).with_eval_postprocessing())
    from sam2.sam2_image_predictor import SAM2ImagePredictor as RefPredictor

    ref, ours = RefPredictor(ref_model), SAM2ImagePredictor(our_model)
    with torch.inference_mode():  # parity only: speed is bench_sam2_predictor.py's job
        ref.set_image(image)
        ours.set_image(image)
    row = {"preset": preset}
    row["embedding"] = (ours._features["image_embed"] - ref._features["image_embed"]).abs().max().item()
    row["high_res"] = max((a - b).abs().max().item()
                          for a, b in zip(ours._features["high_res_feats"], ref._features["high_res_feats"]))
    logit_diff = iou_diff = 0.0
    pixels = 0
    h, w = image.shape[:2]
    cases = prompt_cases(h, w)
    fed_back = None
    for name, kw in cases.items():
        m_ref, s_ref, l_ref = ref.predict(**kw)
        m_our, s_our, l_our = ours.predict(**kw)
        logit_diff = max(logit_diff, float(np.abs(l_our - l_ref).max()))
        iou_diff = max(iou_diff, float(np.abs(s_our - s_ref).max()))
        pixels += int((m_our != m_ref).sum())
        if name == "click, 3 masks":
            fed_back = l_ref[np.argmax(s_ref)][None]
    kw = dict(point_coords=np.array([[w * 0.45, h * 0.5]]), point_labels=np.array([1]), mask_input=fed_back,
              multimask_output=False)
    (m_ref, s_ref, l_ref), (m_our, s_our, l_our) = ref.predict(**kw), ours.predict(**kw)
    logit_diff = max(logit_diff, float(np.abs(l_our - l_ref).max()))
    iou_diff = max(iou_diff, float(np.abs(s_our - s_ref).max()))
    pixels += int((m_our != m_ref).sum())
    row.update(logits=logit_diff, iou=iou_diff, pixels=pixels, cases=len(cases) + 1)
    # Object-score logits come out of the SAM heads (the video path reads them); compare them there.
    with torch.inference_mode():
        heads = []
        for model, pred in ((ref_model, ref), (our_model, ours)):
            backbone = pred._features["image_embed"]
            size = model.image_size  # model-input pixels
            pts = {"point_coords": torch.tensor([[[0.45 * size, 0.5 * size]]]),
                   "point_labels": torch.tensor([[1]], dtype=torch.int32)}
            out = model._forward_sam_heads(backbone_features=backbone, point_inputs=pts,
                                           high_res_features=pred._features["high_res_feats"],
                                           multimask_output=True)
            heads.append(out)
    row["obj_score"] = (heads[1][6] - heads[0][6]).abs().max().item()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=PRESETS)
    ap.add_argument("--image", default=str(ROOT / "examples" / "coffee.png"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import_reference_sam2()
    image = load_image(args.image)
    rows = []
    for preset in args.presets:
        row = compare(preset, image)
        print(row, flush=True)
        rows.append(row)
    lines = [
        "## SAM 2 parity, all four SAM 2.1 presets (`benchmarks/parity_sam2.py`)",
        "",
        machine_line(),
        f"Photo `{Path(args.image).name}` ({image.shape[1]}x{image.shape[0]}); identical random weights in samkit "
        "and the official `sam2` 1.1.0 (build_sam2's eval post-processing on), fp32. Max abs differences over "
        f"{rows[0]['cases']} prompt kinds (click with 3 masks, click with 1 mask, fg + bg clicks, box, click + box, "
        "4 boxes at once, the best low-res mask fed back with a click). Command: `python benchmarks/parity_sam2.py`.",
        "",
        "| preset | image embedding | high-res feats | low-res logits | IoU predictions | object score | "
        "full-size mask pixels differing |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['embedding']:.1e} | {r['high_res']:.1e} | {r['logits']:.1e} | "
                     f"{r['iou']:.1e} | {r['obj_score']:.1e} | {r['pixels']} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        print("wrote", write_section("sam2-parity", text))


if __name__ == "__main__":
    main()
