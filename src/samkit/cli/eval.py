"""`samkit eval`: measure one or several models the way the SAM papers do.

    samkit eval --model tiny --model grabcut --model mine=runs/ckpt.safetensors \
        --data ../shared/data/coco --protocol clicks --max-images 30 --out eval/coco_clicks

Writes OUT/results.json (every number and the per-object records), OUT/results.md (tables) and
pictures (OUT/miou_vs_clicks.png; for attacks OUT/attack_budgets.png and OUT/attack_example.png).
SAM 2 models (--model sam2.1_hiera_t, --model sam2.1_hiera_t:sam2.1_hiera_tiny.pt, a SAM 2 checkpoint)
run every protocol but attack; amg uses SAM2AutomaticMaskGenerator, with the same thresholds as
every other model in the run (the flags below; SAM 2's own default pred_iou_thresh is 0.8). In the
video protocol a SAM 2 model gives one row per --video-prompts entry (SAM2VideoPredictor prompted on
frame 0 with the GT mask, oracle clicks or the GT box) beside its frame-by-frame box row, and the
report adds per-sequence J/F/J&F and a plot (OUT/video_j_and_f.png).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from samkit.errors import InputError

PROTOCOLS = ("clicks", "box", "amg", "attack", "video")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate models: clicks, boxes, AMG recall, attacks, video J&F",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, metavar="[LABEL=]SPEC",
                   help="repeatable: 'grabcut', a preset (random weights), a checkpoint path, or PRESET:PATH")
    p.add_argument("--data", required=True, type=Path,
                   help="COCO instances json/folder, DAVIS folder, or any training dataset (panoptic json, "
                        "label-map or object-mask folder, SA-1B folder)")
    p.add_argument("--images", type=Path, default=None, help="COCO image folder (default: guessed)")
    p.add_argument("--protocol", required=True, choices=PROTOCOLS)
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    p.add_argument("--include", type=Path, action="append", default=[], metavar="RESULTS_JSON",
                   help="repeatable: add the models of an earlier results.json (same protocol, data, subset "
                        "and seed) to this run's tables and plot, without recomputing them")
    p.add_argument("--seed", type=int, default=0, help="image subset, noisy boxes, random weights, attacks")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16", "auto", "int8"])
    g = p.add_argument_group("subset")
    g.add_argument("--max-images", type=int, default=None, help="seeded random subset of images")
    g.add_argument("--max-objects", type=int, default=None, help="largest N objects per image")
    g.add_argument("--min-area", type=float, default=0.0, help="skip objects smaller than this (pixels)")
    g.add_argument("--sequences", nargs="*", default=None, help="DAVIS sequences (default: all)")
    g.add_argument("--frame-stride", type=int, default=1, help="DAVIS: every n-th frame")
    g.add_argument("--max-frames", type=int, default=None, help="DAVIS: at most n frames per sequence")
    g.add_argument("--split", choices=["all", "train", "val"], default="all",
                   help="only the images training's split rule puts on this side (COCO and other images by "
                        "file name, DAVIS by sequence); match --val-fraction/--split-seed to the training run")
    g.add_argument("--val-fraction", type=float, default=0.1, help="the training run's data.val_fraction")
    g.add_argument("--split-seed", type=int, default=0, help="the training run's data.split_seed")
    g = p.add_argument_group("clicks")
    g.add_argument("--max-clicks", type=int, default=20)
    g.add_argument("--multimask", choices=["first", "always", "never"], default="first")
    g.add_argument("--no-oracle", action="store_true", help="skip the oracle-mask trajectory")
    g = p.add_argument_group("video (SAM 2 models)")
    g.add_argument("--video-prompts", default="mask,clicks1,clicks3,clicks5,box", metavar="LIST",
                   help="frame-0 prompts for SAM2VideoPredictor, comma-separated: mask (the GT mask), clicksN "
                        "(N oracle clicks), box (the GT box); 'none' for the frame-by-frame box row only")
    g = p.add_argument_group("amg")
    g.add_argument("--points-per-side", type=int, default=32)
    g.add_argument("--pred-iou-thresh", type=float, default=0.88)
    g.add_argument("--stability-score-thresh", type=float, default=0.95)
    g.add_argument("--box-nms-thresh", type=float, default=0.7)
    g.add_argument("--max-proposals", type=_int_list, default=[100, 1000], help="e.g. 100,1000")
    g = p.add_argument_group("attack")
    g.add_argument("--budgets", type=_int_list, default=[1, 2, 4, 8], help="L-inf budgets in 1/255 units")
    g.add_argument("--attack-steps", type=int, default=10)
    g.add_argument("--prompt-attack-objects", type=int, default=1,
                   help="objects per image that also get the (costly) prompt-specific attack")
    p.set_defaults(func=run)


def _check_args(args) -> None:
    for name in ("max_images", "max_objects", "max_clicks", "max_frames", "attack_steps", "points_per_side"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if not 0.0 <= args.val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if args.split == "val" and args.val_fraction == 0:
        raise InputError("--split val with --val-fraction 0 holds out nothing; set the training run's fraction")
    if args.prompt_attack_objects < 0:
        raise InputError(f"--prompt-attack-objects must be >= 0, got {args.prompt_attack_objects}")
    if args.protocol == "video":
        from samkit.evaluation.video_tracking_method import parse_video_prompts

        args.video_prompts = parse_video_prompts(args.video_prompts)
    results = args.out / "results.json"
    if results.exists() and not args.overwrite:
        raise InputError(f"{results} already exists; choose another --out or pass --overwrite")


# Settings that decide which objects are measured and how: an included run must match them.
_SAME_SETTINGS = ("protocol", "data", "images", "seed", "max_images", "max_objects", "min_area", "sequences",
                  "frame_stride", "max_frames", "max_clicks", "multimask", "budgets", "attack_steps",
                  "prompt_attack_objects", "points_per_side", "pred_iou_thresh", "stability_score_thresh",
                  "box_nms_thresh", "max_proposals", "split", "val_fraction", "split_seed")

# Settings added after results.json files were first written: an older file had these values.
_ADDED_LATER = {"split": "all", "val_fraction": 0.1, "split_seed": 0}


def _included_models(args) -> dict:
    """Models of earlier results.json files given with --include, checked to be comparable."""
    mine = _settings(args)
    models = {}
    for path in args.include:
        try:
            earlier = json.loads(Path(path).read_text())
            theirs = earlier["settings"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"--include {path}: not a samkit eval results.json ({e})") from e
        for key in _SAME_SETTINGS:
            if theirs.get(key, _ADDED_LATER.get(key)) != mine.get(key):
                raise InputError(f"--include {path}: {key} differs ({theirs.get(key)!r} there, {mine.get(key)!r} "
                                 f"here); results are only comparable on the same objects and settings")
        for label, result in earlier["models"].items():
            if label in models:
                raise InputError(f"--include: model {label!r} appears in two included files")
            models[label] = {**result, "included_from": str(path)}
    return models


def _settings(args) -> dict:
    # Paths resolved, so the same data given relative or absolute compares equal.
    return json.loads(json.dumps({k: (str(v.resolve()) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                  if k != "func"}, default=str))


def _load_data(args):
    from samkit.evaluation.coco_instances import read_coco_images
    from samkit.evaluation.dataset_source import resolve_dataset
    from samkit.evaluation.davis_folders import davis_as_images, read_davis_sequences, sequences_on_side

    src = resolve_dataset(args.data, args.images)
    side = dict(split=args.split, val_fraction=args.val_fraction, split_seed=args.split_seed)
    if args.protocol == "video" and src.kind != "davis":
        raise InputError("--protocol video needs a DAVIS folder (JPEGImages/ + Annotations/)")
    if src.kind == "davis":
        names = sequences_on_side(src.root, args.split, args.val_fraction, args.split_seed, args.sequences)
        sequences = read_davis_sequences(src.root, names, args.max_frames, args.frame_stride)
        if args.protocol == "video":
            return src, sequences
        images = davis_as_images(sequences)
        if args.max_images is not None and args.max_images < len(images):
            import random

            keep = sorted(random.Random(args.seed).sample(range(len(images)), args.max_images))
            images = [images[i] for i in keep]
    elif src.kind == "coco":
        images = read_coco_images(src.annotation_path, src.images_dir, args.max_images, args.seed,
                                  args.min_area, args.max_objects, **side)
    else:
        from samkit.data.specs import build_dataset
        from samkit.evaluation.record_images import records_as_images

        images = records_as_images(build_dataset(src.spec), max_images=args.max_images, seed=args.seed,
                                   min_area_px=args.min_area, max_objects_per_image=args.max_objects, **side)
    if not images:
        raise InputError(f"no image with an object to evaluate in {args.data} (split {args.split})")
    return src, images


def _run_model(args, spec, predictor, data, out_dir: Path) -> dict:
    from samkit.evaluation import image_protocols as ip

    label = spec.label
    if args.protocol == "clicks":
        recs = ip.evaluate_clicks(predictor, data, args.max_clicks, args.multimask, not args.no_oracle, desc=label)
        return {"summary": ip.summarize_clicks(recs, args.max_clicks), "records": recs}
    if args.protocol == "box":
        recs = ip.evaluate_boxes(predictor, data, args.seed, desc=label)
        return {"summary": ip.summarize_boxes(recs), "records": recs}
    if args.protocol == "video":
        from samkit.evaluation.video_propagation import BoxPropagation, evaluate_video

        return {"summary": evaluate_video(BoxPropagation(predictor), data, desc=label)}
    if spec.kind == "grabcut":
        return {"skipped": f"GrabCut has no {args.protocol} protocol (no proposals, no gradients)"}
    if args.protocol == "amg":
        return {"summary": _run_amg(args, predictor, data, label)}
    from samkit.inference.model_family import is_sam2_model

    if is_sam2_model(predictor.model):  # run() refuses earlier; a guard for callers of this function
        raise InputError(_ATTACK_SAM2)
    from samkit.evaluation.robustness import evaluate_robustness, summarize_robustness

    recs, example = evaluate_robustness(predictor, data, [b / 255 for b in args.budgets], args.attack_steps,
                                        args.seed, args.prompt_attack_objects, desc=label)
    result = {"summary": summarize_robustness(recs), "records": recs}
    if example is not None:
        from samkit.evaluation.report_plots import plot_attack_example

        safe = "".join(c if c.isalnum() else "_" for c in label)
        result["example_png"] = str(plot_attack_example(example, out_dir / f"attack_example_{safe}.png"))
    return result


_ATTACK_SAM2 = ("--protocol attack is SAM 1 only: its attacks differentiate through SAM 1's preprocessing, "
                "image encoder and decoder (evaluation/attacks.py), not SAM 2's Hiera encoder and high-res "
                "decoder; evaluate SAM 2 models with clicks, box, amg or video")


def _is_sam2(predictor) -> bool:
    from samkit.inference.model_family import is_sam2_model

    return hasattr(predictor, "model") and is_sam2_model(predictor.model)


def _run_amg(args, predictor, data, label) -> dict:
    from samkit.inference.model_family import is_sam2_model

    try:
        if is_sam2_model(predictor.model):
            from samkit.automatic.sam2_generator import SAM2AutomaticMaskGenerator as Generator
        else:
            from samkit.automatic import SamAutomaticMaskGenerator as Generator
    except ImportError as e:
        raise InputError(f"--protocol amg needs samkit.automatic, which is not available here ({e})") from e
    from samkit.evaluation.amg_protocol import evaluate_amg

    generator = Generator(
        predictor.model, points_per_side=args.points_per_side, pred_iou_thresh=args.pred_iou_thresh,
        stability_score_thresh=args.stability_score_thresh, box_nms_thresh=args.box_nms_thresh,
        output_mode="binary_mask")
    return evaluate_amg(generator, data, args.max_proposals, desc=label)


def _write_report(args, src, data, results: dict) -> None:
    from samkit.evaluation import report_plots, report_tables

    summaries = {label: r["summary"] for label, r in results.items() if "summary" in r}
    n = f"{len(data)} {'sequences' if args.protocol == 'video' else 'images'}"
    split = "" if args.split == "all" else f", {args.split} split {args.val_fraction:g}/seed {args.split_seed}"
    lines = [f"# samkit eval: {args.protocol} on {args.data} ({n}{split}, seed {args.seed})", ""]
    table = {"clicks": report_tables.clicks_table, "box": report_tables.boxes_table, "amg": report_tables.amg_table,
             "attack": report_tables.attack_table, "video": report_tables.video_table}[args.protocol]
    if summaries:
        lines += [table(summaries), ""]
    for label, r in results.items():
        if "skipped" in r:
            lines.append(f"- {label}: skipped ({r['skipped']})")
    pictures = []
    if args.protocol == "video" and any("video_prompt" in r for r in results.values()):
        lines += ["Rows: a model's own label is its image predictor frame by frame, prompted with the box of the "
                  "previous mask; '<model> video, <prompt>' is SAM2VideoPredictor prompted on frame 0 only "
                  "(the first frame is not scored).", "", report_tables.video_sequence_table(summaries), ""]
        pictures.append(report_plots.plot_video_j_and_f(summaries, args.out / "video_j_and_f.png",
                                                        f"J&F per sequence ({args.data.name}, {n})"))
    if args.protocol == "clicks" and summaries:
        pictures.append(report_plots.plot_miou_vs_clicks(summaries, args.out / "miou_vs_clicks.png",
                                                         f"mIoU vs clicks ({args.data.name}, {n})"))
    if args.protocol == "attack" and summaries:
        pictures.append(report_plots.plot_attack_budgets(summaries, args.out / "attack_budgets.png"))
        pictures += [Path(r["example_png"]) for r in results.values() if "example_png" in r]
    # Pictures of included runs live in their own folders: link them relative to this one.
    lines += [f"![{p.stem}]({os.path.relpath(p, args.out)})" for p in pictures]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    payload = {"protocol": args.protocol, "data": str(args.data), "dataset_kind": src.kind,
               "settings": _settings(args),
               "num_items": len(data), "models": results}
    (args.out / "results.json").write_text(json.dumps(payload, indent=1, default=float))
    print("\n".join(lines[2:]) if summaries else "", file=sys.stdout)
    print(f"wrote {args.out / 'results.json'}, {args.out / 'results.md'}" +
          "".join(f", {p}" for p in pictures), file=sys.stderr)


def run(args) -> int:
    import numpy as np
    import torch

    from samkit.evaluation.model_specs import build_predictor, check_unique_labels, parse_model_spec

    _check_args(args)
    specs = [parse_model_spec(m) for m in args.model]
    check_unique_labels(specs)
    if args.protocol == "attack":
        sam2 = [s.label for s in specs if s.family == "sam2"]
        if sam2:
            raise InputError(f"{sam2[0]}: {_ATTACK_SAM2}")
    included = _included_models(args)
    clash = sorted(set(included) & {s.label for s in specs})
    if clash:
        raise InputError(f"model label {clash[0]!r} is both computed and included; relabel with --model LABEL=SPEC")
    src, data = _load_data(args)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    if args.protocol == "video":  # the zero-motion reference row every J&F table needs
        from samkit.evaluation.video_propagation import copy_first_mask, evaluate_video

        results["copy first mask (zero motion)"] = {"summary": evaluate_video(copy_first_mask, data, desc="copy-first")}
    for spec in specs:
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        predictor = build_predictor(spec, args.device, args.dtype, args.seed)
        results[spec.label] = _run_model(args, spec, predictor, data, args.out)
        if args.protocol == "video" and args.video_prompts and _is_sam2(predictor):
            from samkit.evaluation.video_tracking_method import evaluate_sam2_video

            results.update(evaluate_sam2_video(predictor.model, data, args.video_prompts, spec.label))
    for label, result in included.items():
        if label not in results:  # the zero-motion row is recomputed, not duplicated
            results[label] = result
    _write_report(args, src, data, results)
    return 0
