"""`samkit auto`: segment everything in an image or a folder of images.

Per image, in --out: NAME.json (SA-1B layout: image info + annotations with COCO RLE, bbox, area,
predicted_iou, stability_score, point_coords, crop_box) and NAME.overlay.jpg (all masks drawn);
with --format png also NAME.masks.png (16-bit instance labels). For a folder (or --format coco),
coco_results.json gathers every image's masks in COCO results form. Re-running skips images whose
JSON is already there with the same settings (resume); an unreadable image is reported and
skipped, and the exit code is 1 if any image failed. A SAM 2 model (--model sam2.1_hiera_t,
--checkpoint sam2.1_hiera_tiny.pt) runs SAM2AutomaticMaskGenerator with its own defaults
(pred_iou_thresh 0.8, ...) and takes its extra options (--use-m2m, --no-multimask-output, ...).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

FORMATS = ("sa1b", "coco", "png")
# Generator options exposed as flags (both families); unset flags take the defaults of the model's
# generator signature: SamAutomaticMaskGenerator for SAM 1, SAM2AutomaticMaskGenerator for SAM 2.
GENERATOR_FLAGS = (
    ("points_per_side", int), ("points_per_batch", int), ("pred_iou_thresh", float),
    ("stability_score_thresh", float), ("stability_score_offset", float), ("box_nms_thresh", float),
    ("crop_n_layers", int), ("crop_nms_thresh", float), ("crop_overlap_ratio", float),
    ("crop_n_points_downscale_factor", int), ("min_mask_region_area", int),
)
# Options only SAM2AutomaticMaskGenerator has.
SAM2_GENERATOR_FLAGS = (("mask_threshold", float), ("use_m2m", bool), ("multimask_output", bool))


def _generator_class(family: str):
    if family == "sam2":
        from samkit.automatic.sam2_generator import SAM2AutomaticMaskGenerator

        return SAM2AutomaticMaskGenerator
    from samkit.automatic.generator import SamAutomaticMaskGenerator

    return SamAutomaticMaskGenerator


def _generator_defaults(family: str = "sam1") -> dict:
    params = inspect.signature(_generator_class(family).__init__).parameters
    flags = GENERATOR_FLAGS + (SAM2_GENERATOR_FLAGS if family == "sam2" else ())
    return {name: params[name].default for name, _ in flags}


def register(subparsers) -> None:
    from samkit.automatic.generator import SAM_AMG_DEFAULTS
    from samkit.cli.model_args import add_model_args

    p = subparsers.add_parser("auto", help="segment everything in an image or a folder (automatic masks)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IMAGE_OR_DIR", help="an image file or a folder of images")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--format", choices=FORMATS, default="sa1b",
                   help="sa1b: per-image JSON (default); coco: also coco_results.json for a single image; "
                        "png: also a 16-bit instance-label PNG per image")
    p.add_argument("--recursive", action="store_true", help="also look for images in subfolders")
    p.add_argument("--no-overlay", action="store_true", help="do not write the overlay pictures")
    p.add_argument("--overwrite", action="store_true",
                   help="redo images already done (default: skip them; refuse if their settings differ)")
    add_model_args(p)
    g = p.add_argument_group("generator options (segment_anything's SamAutomaticMaskGenerator arguments; "
                             "sam2's SAM2AutomaticMaskGenerator ones for SAM 2 models)")
    sam1, sam2 = _generator_defaults("sam1"), _generator_defaults("sam2")
    for name, typ in GENERATOR_FLAGS:
        shown = sam1[name] if sam1[name] is not None else "the model's recommendation, else SAM's " + \
            str(SAM_AMG_DEFAULTS[name])
        if sam2[name] != sam1[name]:
            shown = f"{shown}; SAM 2: {sam2[name]}"
        # default None: the model's family decides (see _generator_kwargs)
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=None, metavar=typ.__name__.upper(),
                       help=f"default {shown}")
    g = p.add_argument_group("SAM 2 generator options (SAM2AutomaticMaskGenerator; refused for SAM 1 models)")
    g.add_argument("--mask-threshold", type=float, default=None, metavar="FLOAT",
                   help=f"logit threshold of the masks (default {sam2['mask_threshold']})")
    g.add_argument("--use-m2m", action=argparse.BooleanOptionalAction, default=None,
                   help=f"one refinement step feeding each mask back as a mask prompt (default {sam2['use_m2m']})")
    g.add_argument("--multimask-output", action=argparse.BooleanOptionalAction, default=None,
                   help=f"three masks per point; --no-multimask-output: one (default {sam2['multimask_output']})")
    p.set_defaults(func=run)


def _generator_kwargs(args: argparse.Namespace, family: str) -> dict:
    """Flags the user gave, the family's generator defaults for the rest. A SAM 1 run keeps exactly the
    settings it always had (resume compares them), SAM 2-only flags are refused for SAM 1."""
    from samkit.errors import InputError

    defaults = _generator_defaults(family)
    if family != "sam2":
        given = [name for name, _ in SAM2_GENERATOR_FLAGS if getattr(args, name) is not None]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise InputError(f"{flag} is an option of SAM 2's generator; this model is a SAM 1 model "
                             f"(give a SAM 2 --model or --checkpoint, or drop {flag})")
    return {name: getattr(args, name) if getattr(args, name) is not None else default
            for name, default in defaults.items()}


def run(args: argparse.Namespace) -> int:
    from samkit.cli.auto_output import AutoRun, find_images
    from samkit.cli.model_args import model_family_from_args
    from samkit.errors import InputError

    inp = Path(args.input)
    if not inp.exists():
        raise InputError(f"{inp}: no such file or folder")
    images = find_images(inp, args.recursive)
    if not images:
        raise InputError(f"{inp}: no images found (looked for .jpg .jpeg .png .tif .tiff .bmp .webp"
                         f"{' in subfolders too' if args.recursive else '; add --recursive for subfolders'})")
    family = model_family_from_args(args)
    gen_kwargs = _generator_kwargs(args, family)
    settings = {"generator": gen_kwargs, "model": args.model, "checkpoint": _ckpt_id(args.checkpoint),
                "dtype": args.dtype}
    job = AutoRun(inp, Path(args.out), images, settings, args.format, not args.no_overlay, args.overwrite)
    todo = job.pending()  # raises before loading the model if earlier results conflict
    generator = None
    if todo:
        from samkit.cli.model_args import model_from_args
        from samkit.inference.model_family import model_family

        model = model_from_args(args)
        if model_family(model) != family:  # a file that the header sniff misread: trust the loaded model
            gen_kwargs = _generator_kwargs(args, model_family(model))
            settings["generator"] = gen_kwargs
        generator = _generator_class(model_family(model))(model, output_mode="coco_rle", **gen_kwargs)
    failures = job.process(todo, generator)
    job.write_coco_results(force=args.format == "coco" or inp.is_dir())
    done = len(images) - len(failures)
    print(f"samkit auto: {done}/{len(images)} images done ({len(images) - len(todo)} already there), "
          f"results in {args.out}", file=sys.stderr)
    for path, why in failures:
        print(f"samkit auto: skipped {path}: {why}", file=sys.stderr)
    return 1 if failures else 0


def _ckpt_id(path: str | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    try:
        st = p.stat()
        return f"{p.resolve()}:{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        return str(p)
