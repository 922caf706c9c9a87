"""`samkit engine ...`: the SAM paper's data engine on your images (docs/data-engine.md).

    samkit engine init DIR --images FOLDER [--model builtin|sam2|CHECKPOINT]
    samkit engine annotate DIR                 # the browser annotator's engine modes (stages 1-2, review)
    samkit engine prefill DIR                  # stage 2: the model proposes confident masks
    samkit engine retrain DIR [--steps 200]    # fine-tune on accepted masks; adopt if held-out mIoU holds
    samkit engine auto DIR [--ray local|ADDRESS --workers N]   # stage 3: AMG, paper settings, resumable
    samkit engine review DIR --sample N        # queue stage-3 masks for spot checks
    samkit engine status DIR                   # per stage and round: images, masks, s and clicks per mask
    samkit engine export DIR                   # COCO JSON of the accepted masks (train / held-out)
    samkit engine simulate DIR --gt COCO.json --images FOLDER   # the loop with a simulated annotator
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path


def _add_amg_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generator settings (default: the paper's; smaller is faster on a CPU)")
    g.add_argument("--points-per-side", type=int, default=None, help="grid points per side (paper: 32)")
    g.add_argument("--crop-n-layers", type=int, default=None, help="zoomed crop layers (paper-style: 1)")
    g.add_argument("--pred-iou-thresh", type=float, default=None, help="default: the model's recommendation")
    g.add_argument("--stability-score-thresh", type=float, default=None, help="default: the model's recommendation")
    g.add_argument("--min-mask-region-area", type=int, default=None, help="small-region clean-up in px (100)")


def _amg_overrides(args) -> dict:
    return {k: getattr(args, k) for k in ("points_per_side", "crop_n_layers", "pred_iou_thresh",
                                          "stability_score_thresh", "min_mask_region_area")}


def _add_retrain_flags(p: argparse.ArgumentParser) -> None:
    from samkit.engine.retrain import RetrainOptions

    d = RetrainOptions()
    g = p.add_argument_group("retraining")
    g.add_argument("--steps", type=int, default=d.steps, help=f"fine-tuning steps per round (default {d.steps})")
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--mode", default=d.mode, choices=("full", "frozen_encoder", "decoder_only", "lora"))
    g.add_argument("--heldout-fraction", type=float, default=d.heldout_fraction,
                   help="images held out of training by a hash of their path (default %(default)s)")
    g.add_argument("--threads", type=int, default=d.threads, help="torch threads (0 = torch's default)")


def _retrain_options(args):
    from samkit.engine.retrain import RetrainOptions
    from samkit.errors import InputError

    if not 0.0 < args.heldout_fraction < 1.0:
        raise InputError(f"--heldout-fraction must be in (0, 1), got {args.heldout_fraction}")
    if args.steps < 1:
        raise InputError(f"--steps must be >= 1, got {args.steps}")
    return RetrainOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr, mode=args.mode,
                          heldout_fraction=args.heldout_fraction, threads=args.threads,
                          progress=not getattr(args, "quiet", False))


def register(subparsers) -> None:
    p = subparsers.add_parser("engine", help="the data engine: annotate, retrain, auto-label, simulate",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="engine_command", metavar="STEP")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    s = sub.add_parser("init", help="create a project over a folder of images")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--images", required=True, metavar="FOLDER")
    s.add_argument("--model", default="builtin", metavar="builtin|sam2|CHECKPOINT")
    s.set_defaults(func=run_init)

    s = sub.add_parser("status", help="per stage and round: images, masks, seconds and clicks per mask, quality")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--json", action="store_true", help="print JSON instead of the table")
    s.set_defaults(func=run_status)

    s = sub.add_parser("prefill", help="stage 2: propose confident masks (AMG, strict thresholds)")
    s.add_argument("dir", metavar="DIR")
    _add_amg_flags(s)
    s.set_defaults(func=run_prefill_cmd)

    s = sub.add_parser("auto", help="stage 3: AMG with the paper's settings over every image not done (resumable)")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--ray", metavar="local|ADDRESS", default=None, help="run on Ray (pip install 'samkit[ray]')")
    s.add_argument("--workers", type=int, default=1, help="Ray workers (one model replica each)")
    s.add_argument("--threads-per-worker", type=int, default=1)
    s.add_argument("--limit", type=int, default=None, help="do at most N images this run")
    _add_amg_flags(s)
    s.set_defaults(func=run_auto_cmd)

    s = sub.add_parser("review", help="queue a random sample of stage-3 masks for spot checks")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--sample", type=int, required=True, metavar="N")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=run_review)

    s = sub.add_parser("retrain", help="fine-tune on accepted masks; adopt when held-out quality does not drop")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--include-stage3", action="store_true", help="also train on unrejected automatic masks")
    _add_retrain_flags(s)
    s.set_defaults(func=run_retrain)

    s = sub.add_parser("export", help="write the accepted masks as COCO JSON (train and held-out)")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--heldout-fraction", type=float, default=0.2)
    s.add_argument("--stages", default="1,2,3", help="stages whose accepted masks to export (default 1,2,3)")
    s.set_defaults(func=run_export)

    s = sub.add_parser("simulate", help="run stage 1 -> retrain -> stage 2 -> retrain -> stage 3 -> retrain "
                                        "with a simulated annotator playing from GT masks")
    s.add_argument("dir", metavar="DIR", help="a new project folder")
    s.add_argument("--gt", required=True, metavar="COCO.json", help="COCO instances with the GT masks")
    s.add_argument("--images", required=True, metavar="FOLDER", help="the GT file's images")
    s.add_argument("--model", default="builtin", metavar="builtin|sam2|CHECKPOINT")
    s.add_argument("--max-images", type=int, default=None, help="a seeded subset of the GT images")
    s.add_argument("--rounds", default="1,2,3", help="the stage of each round, in order (default 1,2,3)")
    s.add_argument("--seconds-per-click", type=float, default=2.0)
    s.add_argument("--seconds-per-mask", type=float, default=5.0)
    s.add_argument("--max-clicks", type=int, default=10)
    s.add_argument("--review-fraction", type=float, default=0.25)
    s.add_argument("--iou-target", type=float, default=0.9, help="the simulated human stops clicking at this IoU")
    s.add_argument("--accept-floor", type=float, default=0.5,
                   help="an object still below this IoU after --max-clicks is skipped (default 0.5)")
    s.add_argument("--min-object-area", type=int, default=256, help="GT objects smaller than this (px) are not clicked")
    s.add_argument("--plot", metavar="PNG", default=None, help="default DIR/simulation.png")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_retrain_flags(s)
    _add_amg_flags(s)
    s.set_defaults(func=run_simulate)

    if importlib.util.find_spec("samkit.cli.engine_annotate") is not None:
        from samkit.cli.engine_annotate import register_annotate

        register_annotate(sub)


def run_init(args) -> int:
    from samkit.engine.project import init_project

    project = init_project(args.dir, args.images, args.model)
    images = project.store.images()
    failed = [im for im in images if im.status == "failed"]
    print(f"samkit engine: project {args.dir}: {len(images) - len(failed)} images, model {project.model_spec}")
    for im in failed:
        print(f"samkit engine: {im.path} does not decode, marked failed: {im.error}", file=sys.stderr)
    return 0


def run_status(args) -> int:
    from samkit.engine.project import open_project
    from samkit.engine.status_table import status_report, status_text

    report = status_report(open_project(args.dir))
    print(json.dumps(report, indent=1) if args.json else status_text(report))
    return 0


def run_prefill_cmd(args) -> int:
    from samkit.engine.prefill import run_prefill
    from samkit.engine.project import open_project

    out = run_prefill(open_project(args.dir), _amg_overrides(args))
    print(f"samkit engine prefill: {out['proposed']} masks proposed on {out['images']} images")
    for path, why in out["failed"]:
        print(f"samkit engine prefill: skipped {path}: {why}", file=sys.stderr)
    return 1 if out["failed"] else 0


def run_auto_cmd(args) -> int:
    from samkit.engine.auto_stage import run_auto
    from samkit.engine.project import open_project

    s = run_auto(open_project(args.dir), _amg_overrides(args), ray=args.ray, workers=args.workers, limit=args.limit,
                 threads_per_worker=args.threads_per_worker)
    print(f"samkit engine auto: {s.done} images done ({s.masks} masks, {s.images_per_s:.2f} images/s), "
          f"{s.skipped} already done ({s.recovered} finished from their JSON), {len(s.failed)} failed")
    for path, why in s.failed:
        print(f"samkit engine auto: skipped {path}: {why}", file=sys.stderr)
    return 1 if s.failed else 0


def run_review(args) -> int:
    from samkit.engine.project import open_project

    rows = open_project(args.dir).store.sample_for_review(args.sample, args.seed)
    print(f"samkit engine review: {len(rows)} stage-3 masks queued for review")
    return 0


def run_retrain(args) -> int:
    import dataclasses

    from samkit.engine.project import open_project
    from samkit.engine.retrain import retrain

    opt = dataclasses.replace(_retrain_options(args), include_stage3=args.include_stage3)
    res = retrain(open_project(args.dir), opt, log=lambda m: print(f"samkit engine retrain: {m}", file=sys.stderr))
    print(json.dumps({k: v for k, v in res.items() if k != "previous"}))
    return 0


def run_export(args) -> int:
    from samkit.engine.export import export_round
    from samkit.engine.project import open_project

    project = open_project(args.dir)
    stages = tuple(int(s) for s in args.stages.split(",") if s.strip())
    out = export_round(project, project.store.state()["round"], args.heldout_fraction, stages)
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in out.items() if k != "heldout_ids"}))
    return 0


def run_simulate(args) -> int:
    import dataclasses

    from samkit.engine.amg_settings import strict_threshold
    from samkit.engine.sim_annotator import SimCosts
    from samkit.engine.sim_report import markdown_table, plot
    from samkit.engine.simulate import SimOptions, prepare_project, run_simulation
    from samkit.errors import InputError

    try:
        stages = tuple(int(s) for s in args.rounds.split(","))
    except ValueError:
        stages = ()
    if not stages or any(s not in (1, 2, 3) for s in stages):
        raise InputError(f"--rounds {args.rounds!r}: expected stages 1, 2 or 3 separated by commas, e.g. 1,2,3")
    gt, images = Path(args.gt), Path(args.images)
    if not gt.is_file():
        raise InputError(f"--gt {gt}: no such file")
    if not images.is_dir():
        raise InputError(f"--images {images}: not a folder")
    costs = dataclasses.replace(SimCosts(), seconds_per_click=args.seconds_per_click,
                                seconds_per_mask=args.seconds_per_mask, max_clicks=args.max_clicks,
                                accept_floor=args.accept_floor, iou_target=args.iou_target, min_object_area_px=args.min_object_area)
    auto = _amg_overrides(args)
    # the pre-fill shares the grid; thresholds given for stage 3 are made strict for it (amg_settings)
    prefill = {k: auto[k] for k in ("points_per_side", "min_mask_region_area")}
    prefill.update({k: strict_threshold(auto[k]) for k in ("pred_iou_thresh", "stability_score_thresh")
                    if auto[k] is not None})
    opt = SimOptions(stages=stages, costs=costs, retrain=_retrain_options(args), auto_overrides=auto,
                     prefill_overrides=prefill, review_fraction=args.review_fraction)
    project = prepare_project(Path(args.dir), gt, images, args.max_images, args.model)
    log = (lambda m: None) if args.quiet else (lambda m: print(f"samkit engine simulate: {m}", file=sys.stderr))
    report = run_simulation(project, gt, opt, progress=not args.quiet, log=log)
    (Path(args.dir) / "simulation.json").write_text(json.dumps(report, indent=1))
    png = plot(report, Path(args.plot) if args.plot else Path(args.dir) / "simulation.png")
    print(markdown_table(report))
    print(f"\nplot: {png}; numbers: {Path(args.dir) / 'simulation.json'}")
    return 0
