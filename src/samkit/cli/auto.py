"""`samkit auto`: segment everything in an image or a folder of images.

Per image, in --out: NAME.json (SA-1B layout: image info + annotations with COCO RLE, bbox, area,
predicted_iou, stability_score, point_coords, crop_box) and NAME.overlay.jpg (all masks drawn);
with --format png also NAME.masks.png (16-bit instance labels). For a folder (or --format coco),
coco_results.json gathers every image's masks in COCO results form. Re-running skips images whose
JSON is already there with the same settings (resume); an unreadable image is reported and
skipped, and the exit code is 1 if any image failed.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

FORMATS = ("sa1b", "coco", "png")
# Generator options exposed as flags; defaults are read from the generator's signature.
GENERATOR_FLAGS = (
    ("points_per_side", int), ("points_per_batch", int), ("pred_iou_thresh", float),
    ("stability_score_thresh", float), ("stability_score_offset", float), ("box_nms_thresh", float),
    ("crop_n_layers", int), ("crop_nms_thresh", float), ("crop_overlap_ratio", float),
    ("crop_n_points_downscale_factor", int), ("min_mask_region_area", int),
)


def _generator_defaults() -> dict:
    from samkit.automatic.generator import SamAutomaticMaskGenerator

    params = inspect.signature(SamAutomaticMaskGenerator.__init__).parameters
    return {name: params[name].default for name, _ in GENERATOR_FLAGS}


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
    g = p.add_argument_group("generator options (segment_anything's SamAutomaticMaskGenerator arguments)")
    defaults = _generator_defaults()
    for name, typ in GENERATOR_FLAGS:
        shown = defaults[name] if defaults[name] is not None else "the model's recommendation, else SAM's " + \
            str(SAM_AMG_DEFAULTS[name])
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=defaults[name], metavar=typ.__name__.upper(),
                       help=f"default {shown}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from samkit.cli.auto_output import AutoRun, find_images
    from samkit.errors import InputError

    inp = Path(args.input)
    if not inp.exists():
        raise InputError(f"{inp}: no such file or folder")
    images = find_images(inp, args.recursive)
    if not images:
        raise InputError(f"{inp}: no images found (looked for .jpg .jpeg .png .tif .tiff .bmp .webp"
                         f"{' in subfolders too' if args.recursive else '; add --recursive for subfolders'})")
    gen_kwargs = {name: getattr(args, name) for name, _ in GENERATOR_FLAGS}
    settings = {"generator": gen_kwargs, "model": args.model, "checkpoint": _ckpt_id(args.checkpoint),
                "dtype": args.dtype}
    job = AutoRun(inp, Path(args.out), images, settings, args.format, not args.no_overlay, args.overwrite)
    todo = job.pending()  # raises before loading the model if earlier results conflict
    from samkit.automatic.generator import SamAutomaticMaskGenerator
    from samkit.cli.model_args import model_from_args

    generator = SamAutomaticMaskGenerator(model_from_args(args), output_mode="coco_rle", **gen_kwargs) if todo else None
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
