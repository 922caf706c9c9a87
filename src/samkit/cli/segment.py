"""`samkit segment IMAGE --point X,Y[,LABEL] ... --box X0,Y0,X1,Y1 --out DIR`.

Writes each mask as a PNG, an overlay picture (image + masks + prompts) and a JSON with scores
and boxes. A single click without --multimask returns the best of SAM's three candidate masks (as
SAM's demo does); with --multimask all three are written. SAM 2 models (--model sam2.1_hiera_t,
--checkpoint sam2.1_hiera_tiny.pt) run through SAM2ImagePredictor and write the same files.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from samkit.cli.model_args import add_model_args, model_from_args
from samkit.errors import InputError


def parse_point(text: str) -> tuple[float, float, int]:
    parts = text.replace(" ", "").split(",")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        x, y = float(parts[0]), float(parts[1])
        label = parts[2].lower() if len(parts) == 3 else "1"
        label_i = {"1": 1, "fg": 1, "pos": 1, "0": 0, "bg": 0, "neg": 0}[label]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"invalid point {text!r}: expected X,Y or X,Y,LABEL with LABEL 1 (foreground) "
                                         f"or 0 (background)") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise argparse.ArgumentTypeError(f"invalid point {text!r}: coordinates must be finite numbers")
    return x, y, label_i


def parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
        if len(vals) != 4 or not all(np.isfinite(vals)):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid box {text!r}: expected X0,Y0,X1,Y1 (pixels)") from None
    return tuple(vals)


def register(subparsers) -> None:
    p = subparsers.add_parser("segment", help="segment an image from clicks and/or a box",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", help="JPEG/PNG/TIFF image (grayscale, RGBA, 16-bit and EXIF-rotated photos are fine)")
    p.add_argument("--point", type=parse_point, action="append", default=[], metavar="X,Y[,LABEL]",
                   help="a click in image pixels; LABEL 1 = foreground (default), 0 = background; repeatable")
    p.add_argument("--box", type=parse_box, default=None, metavar="X0,Y0,X1,Y1", help="a box in image pixels")
    p.add_argument("--text", default=None, metavar="WORDS",
                   help="a text prompt (e.g. dog) for models with a text path: the built-in model knows the 80 "
                        "COCO category names (docs/text-prompts.md); alone or with --point/--box")
    p.add_argument("--multimask", action="store_true", help="write SAM's three candidate masks")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run")
    p.add_argument("--cache-dir", default=None, help="keep image embeddings here (an image is encoded once)")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from samkit.image_io import load_image
    from samkit.inference.model_family import image_predictor, model_family, model_name
    from samkit.overlay import draw_overlay

    if not args.point and args.box is None and args.text is None:
        raise InputError("give at least one --point X,Y[,LABEL], a --box X0,Y0,X1,Y1 or --text WORDS")
    image = load_image(args.image)
    h, w = image.shape[:2]
    out = Path(args.out)
    stem = Path(args.image).stem
    json_path, overlay_path = out / f"{stem}.json", out / f"{stem}.overlay.png"
    if not args.overwrite:
        existing = [p for p in (json_path, overlay_path) if p.exists()] + sorted(out.glob(f"{stem}.mask*.png"))
        if existing:
            raise InputError(f"{existing[0]} already exists; pass --overwrite to replace the earlier results")

    points = np.array([[x, y] for x, y, _ in args.point], dtype=float) if args.point else None
    labels = np.array([lab for _, _, lab in args.point], dtype=int) if args.point else None
    box = np.array(args.box, dtype=float) if args.box is not None else None
    single_click = args.point and len(args.point) == 1 and box is None
    text_only = args.text is not None and not args.point and box is None  # ambiguous like one click

    t0 = time.perf_counter()
    model = model_from_args(args)
    predictor = image_predictor(model, cache_dir=args.cache_dir)
    text_kw = {}
    if args.text is not None:
        from samkit.inference.text_prompt import encode_text_prompt

        encode_text_prompt(model, args.text)  # unknown word / no text path: fail before encoding the image
        text_kw = {"text": args.text}
    t1 = time.perf_counter()
    predictor.set_image(image)
    t2 = time.perf_counter()
    pred = predictor.segment(points, labels, box, multimask_output=bool(args.multimask or single_click or text_only),
                             **text_kw)
    t3 = time.perf_counter()
    keep = list(range(len(pred.iou_predictions)))
    if (single_click or text_only) and not args.multimask:
        keep = [int(pred.best())]

    out.mkdir(parents=True, exist_ok=True)
    records = []
    for rank, k in enumerate(keep):
        mask = pred.masks[k]
        mask_path = out / (f"{stem}.mask{rank}.png" if len(keep) > 1 else f"{stem}.mask.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
        ys, xs = np.nonzero(mask)
        bbox = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else [0, 0, 0, 0]
        records.append({
            "file": mask_path.name, "output_index": k, "predicted_iou": round(float(pred.iou_predictions[k]), 6),
            "stability_score": round(float(pred.stability_scores[k]), 6), "area": int(mask.sum()),
            "bbox_xyxy": bbox, "bbox_xywh": [bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1]],
        })
    overlay = draw_overlay(image, [pred.masks[k] for k in keep], points_xy=points, point_labels=labels,
                           boxes_xyxy=box)
    Image.fromarray(overlay).save(overlay_path)
    result = {
        "image": str(Path(args.image)), "width": w, "height": h,
        "model": {"name": model_name(model), "family": model_family(model),
                  "checkpoint": args.checkpoint or ("builtin" if args.model is None else None),
                  "dtype": str(model.encoder_dtype)},
        "prompts": {"points_xy": points.tolist() if points is not None else [],
                    "point_labels": labels.tolist() if labels is not None else [],
                    "box_xyxy": box.tolist() if box is not None else None, "text": args.text},
        "masks": records,
        "timing_s": {"load_model": round(t1 - t0, 3), "set_image": round(t2 - t1, 3), "predict": round(t3 - t2, 3)},
    }
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(json_path)
    best = max(records, key=lambda r: r["predicted_iou"])
    print(f"{len(records)} mask(s) -> {out}/ (best predicted IoU {best['predicted_iou']:.3f}, area {best['area']} px; "
          f"set_image {t2 - t1:.2f} s, predict {1e3 * (t3 - t2):.0f} ms)")
    return 0
