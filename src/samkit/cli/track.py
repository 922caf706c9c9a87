"""`samkit track VIDEO --point X,Y[,LABEL] ... [--box X0,Y0,X1,Y1] [--mask PNG] [--frame N] [--obj ID] --out DIR`.

Follows objects through a video (a folder of JPEG/PNG frames or an MP4/MOV/AVI/WebM file) with a
SAM 2 model (--model sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt). The prompts given by flags
are for one object (--obj, default 1) on one frame (--frame, default 0); for several objects or
frames use --prompts FILE.json, a list of {"frame": 0, "obj": 1, "points": [[x, y], ...],
"labels": [1, ...], "box": [x0, y0, x1, y1], "mask": "mask.png"} (points/box/mask optional, pixels).

Writes into DIR: masks/NNNNN.png (DAVIS format: indexed PNG, pixel value = object id), overlay.mp4
(the video with coloured masks; needs PyAV), strip.png (a few tracked frames side by side) and
track.json (per frame and object: object score logit and mask area; timings), written last.
Running the same command again after an interruption (Ctrl-C, a crash, kill -9) resumes the run
from what it wrote: the masks equal an uninterrupted run's. A finished run is not redone; other
settings on an existing output need --overwrite (DIR/.track-run/ holds the resume state).
Tracking runs forwards from the first prompted frame, and backwards too when a prompt is on a later
frame than 0 (--reverse: backwards only). --max-frames limits the frames tracked in each direction.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from samkit.cli.model_args import add_model_args, model_family_from_args, model_from_args
from samkit.cli.segment import parse_box, parse_point
from samkit.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser("track", help="follow objects through a video (SAM 2)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", help="folder of JPEG/PNG frames or a video file (MP4, MOV, AVI, WebM)")
    p.add_argument("--point", type=parse_point, action="append", default=[], metavar="X,Y[,LABEL]",
                   help="a click in video pixels on --frame; LABEL 1 = foreground (default), 0 = background")
    p.add_argument("--box", type=parse_box, default=None, metavar="X0,Y0,X1,Y1", help="a box in video pixels")
    p.add_argument("--mask", default=None, metavar="PNG", help="a mask of the object on --frame (non-zero = object)")
    p.add_argument("--frame", type=int, default=0, help="frame of the --point/--box/--mask prompts (default 0)")
    p.add_argument("--obj", type=int, default=1, help="object id of those prompts, 1..255 (default 1)")
    p.add_argument("--prompts", default=None, metavar="JSON", help="prompts for several objects/frames")
    p.add_argument("--reverse", action="store_true", help="track backwards in time only")
    p.add_argument("--max-frames", type=int, default=None, help="track at most this many frames each way")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--overwrite", action="store_true",
                   help="replace outputs of an earlier run (a run with the same settings resumes without it)")
    p.add_argument("--no-video", action="store_true", help="do not write overlay.mp4")
    add_model_args(p)
    p.set_defaults(func=run)


def _prompt_list(args) -> list[dict]:
    prompts = []
    if args.point or args.box is not None or args.mask is not None:
        prompts.append({"frame": args.frame, "obj": args.obj,
                        "points": [[x, y] for x, y, _ in args.point] or None,
                        "labels": [lab for _, _, lab in args.point] or None,
                        "box": list(args.box) if args.box is not None else None, "mask": args.mask})
    if args.prompts:
        try:
            loaded = json.loads(Path(args.prompts).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"cannot read --prompts {args.prompts}: {e}") from None
        if not isinstance(loaded, list) or not all(isinstance(p, dict) for p in loaded):
            raise InputError(f"--prompts {args.prompts}: expected a JSON list of objects like "
                             f'{{"frame": 0, "obj": 1, "points": [[x, y]], "labels": [1]}}')
        for p in loaded:
            unknown = set(p) - {"frame", "obj", "points", "labels", "box", "mask"}
            if unknown:
                raise InputError(f"--prompts: unknown keys {sorted(unknown)} in {p}")
            prompts.append({"frame": p.get("frame", 0), "obj": p.get("obj", 1), "points": p.get("points"),
                            "labels": p.get("labels"), "box": p.get("box"), "mask": p.get("mask")})
    if not prompts:
        raise InputError("give a prompt: --point X,Y[,LABEL], --box X0,Y0,X1,Y1, --mask PNG or --prompts FILE.json")
    for p in prompts:
        if not isinstance(p["obj"], int) or not 1 <= p["obj"] <= 255:
            raise InputError(f"object ids are integers 1..255 (DAVIS labels), got {p['obj']!r}")
        if p["points"] is not None and p["labels"] is None:
            p["labels"] = [1] * len(p["points"])
    return prompts


def _add_prompts(predictor, state, prompts: list[dict]) -> None:
    from samkit.image_io import read_label_image

    for p in prompts:
        if p["mask"] is not None:
            mask = read_label_image(p["mask"], "mask", mode="L") > 0
            predictor.add_new_mask(state, p["frame"], p["obj"], mask)
        if p["points"] is not None or p["box"] is not None:
            predictor.add_new_points_or_box(state, p["frame"], p["obj"], points=p["points"], labels=p["labels"],
                                            box=p["box"], clear_old_points=p["mask"] is None)


def _object_scores(state, frame_idx) -> list[float | None]:
    scores = []
    for obj_idx in range(len(state["obj_ids"])):
        bank = state["output_dict_per_obj"][obj_idx]
        out = bank["cond_frame_outputs"].get(frame_idx) or bank["non_cond_frame_outputs"].get(frame_idx)
        scores.append(None if out is None else round(float(out["object_score_logits"].max()), 4))
    return scores


def _settings(args, prompts: list[dict], model) -> dict:
    """Everything that decides the masks; a run with equal settings resumes this one."""
    from samkit.video.track_run import prompts_fingerprint, video_fingerprint, weights_fingerprint

    return {"video": str(Path(args.video).resolve()), "video_files": video_fingerprint(args.video),
            "prompts": prompts_fingerprint(prompts), "model": args.model,
            "checkpoint": str(Path(args.checkpoint).resolve()) if args.checkpoint else None,
            "weights": weights_fingerprint(model), "dtype": args.dtype, "device": str(next(model.parameters()).device),
            "reverse": bool(args.reverse), "max_frames": args.max_frames}


def _resuming(run, out: Path, overwrite: bool) -> bool | None:
    """True: resume the interrupted run in `out`; False: start afresh; None: `out` holds this very run, finished."""
    mask_dir = out / "masks"
    earlier = run.earlier_settings()
    if overwrite:
        for stale in sorted(mask_dir.glob("*.png")) if mask_dir.is_dir() else []:
            stale.unlink()  # --overwrite: no masks of the earlier run may stay behind
        return False
    if earlier is not None:
        if earlier == run.settings:
            return True
        raise InputError(f"{out} holds an interrupted run with other settings ({', '.join(run.differences(earlier))}"
                         f" differ): run its command again to resume it, or pass --overwrite to start over")
    try:
        finished = json.loads((out / "track.json").read_text()).get("settings")
    except (OSError, json.JSONDecodeError, AttributeError):
        finished = None
    if finished == run.settings:
        return None
    if (mask_dir.is_dir() and any(mask_dir.glob("*.png"))) or (out / "track.json").exists():
        raise InputError(f"{out} holds the results of an earlier run; pass --overwrite to replace them")
    return False


def _track(predictor, state, prompts, args, run, mask_dir: Path, resume: bool) -> dict:
    """Propagate (forwards, then backwards when asked), writing one mask per frame and snapshots;
    from the latest snapshot when resuming. Returns the run's results so far (frames, timings)."""
    from tqdm.auto import tqdm

    from samkit.video.mask_writer import label_map, write_davis_png
    from samkit.video.track_run import memory_bank, restore_memory_bank

    first = min(p["frame"] for p in prompts)
    directions = [True] if args.reverse else ([False, True] if first > 0 else [False])
    predictor.propagate_in_video_preflight(state)
    passes = [(rev, list(predictor._processing_order(state, max(p["frame"] for p in prompts) if rev else None,
                                                     args.max_frames, rev))) for rev in directions]
    snap = run.load_snapshot() if resume else None
    done = snap or {"pass": 0, "frame": None, "frames": {}, "propagate_s": 0.0, "resumes": []}
    if snap is not None:
        restore_memory_bank(state, snap["memory"])
        done["resumes"].append({"pass": snap["pass"], "frame": snap["frame"]})
    frames, anchor = done["frames"], done["frame"]
    initial = sum(len(order) for _, order in passes[: done["pass"]])
    if anchor is not None:
        initial += passes[done["pass"]][1].index(anchor) + 1
    predictor.show_progress = False  # one bar over every pass instead of the predictor's per pass
    bar = tqdm(total=sum(len(order) for _, order in passes), initial=initial, desc="track", unit="frame")
    t0, tracked = time.perf_counter(), 0
    for p, (reverse, order) in enumerate(passes):
        if p < done["pass"] or not order:
            continue
        # The snapshot's own frame is recomputed (not written again) to rebuild the step after it exactly.
        begin = anchor if p == done["pass"] and anchor is not None else order[0]
        for frame_idx, obj_ids, masks in predictor.propagate_in_video(
                state, start_frame_idx=begin, max_frame_num_to_track=abs(order[-1] - begin), reverse=reverse):
            if p == done["pass"] and frame_idx == anchor:
                continue
            lab = label_map(masks, [int(i) for i in obj_ids])
            write_davis_png(mask_dir / f"{frame_idx:05d}.png", lab)
            frames[frame_idx] = {"objects": [int(i) for i in obj_ids], "object_score_logits": _object_scores(
                state, frame_idx), "area_px": [int((lab == int(i)).sum()) for i in obj_ids]}
            tracked += 1
            bar.update(1)
            elapsed = done["propagate_s"] + time.perf_counter() - t0
            run.maybe_snapshot({**done, "pass": p, "frame": frame_idx, "propagate_s": elapsed,
                                "memory": memory_bank(state)}, elapsed)
        elapsed = done["propagate_s"] + time.perf_counter() - t0
        run.maybe_snapshot({**done, "pass": p + 1, "frame": None, "propagate_s": elapsed,
                            "memory": memory_bank(state)}, elapsed, force=True)
    bar.close()
    this_run_s = time.perf_counter() - t0
    return {"frames": frames, "resumes": done["resumes"], "propagate_s": done["propagate_s"] + this_run_s,
            "per_frame_s": this_run_s / max(1, tracked)}


def _write_pictures(out: Path, source, mask_dir: Path, order: list[int], video: bool) -> None:
    """overlay.mp4 (unless video=False) and strip.png from the written masks, each written atomically."""
    import io

    from PIL import Image

    from samkit.video.mask_writer import OverlayVideoWriter, colour_overlay, picture_strip
    from samkit.video.track_run import atomic_write_bytes

    def overlay(f):
        return colour_overlay(source.original_frame(f), np.array(Image.open(mask_dir / f"{f:05d}.png")))

    if video:
        writer = OverlayVideoWriter(out / "overlay.mp4")
        try:
            for f in order:
                writer.write(overlay(f))
        except BaseException:
            writer.discard()
            raise
        writer.close()
    picks = [order[round(i * (len(order) - 1) / 5)] for i in range(6)] if len(order) > 6 else order
    buf = io.BytesIO()
    Image.fromarray(picture_strip([overlay(f) for f in picks])).save(buf, format="PNG")
    atomic_write_bytes(out / "strip.png", buf.getvalue())


def run(args: argparse.Namespace) -> int:
    import torch

    from samkit.video.build_video import video_predictor_from_model
    from samkit.video.track_run import TrackRun, atomic_write_json

    prompts = _prompt_list(args)
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError("--max-frames must be at least 1")
    if args.model is None and args.checkpoint is None:
        args.model = "sam2"  # no model named: samkit's built-in SAM 2 (docs/model-card-sam2.md)
    if model_family_from_args(args) != "sam2":
        raise InputError("samkit track needs a SAM 2 model: --model sam2.1_hiera_t (and --checkpoint "
                         "sam2.1_hiera_tiny.pt), or a SAM 2 --checkpoint")
    out = Path(args.out)
    mask_dir = out / "masks"
    t0 = time.perf_counter()
    if args.checkpoint is None:
        torch.manual_seed(0)  # random weights: the same model in every run, so that a rerun can resume
    model = model_from_args(args)
    run = TrackRun(out, _settings(args, prompts, model))
    resume = _resuming(run, out, args.overwrite)
    if resume is None:
        print(f"{out}/ already holds this run, finished (pass --overwrite to compute it again)")
        return 0
    predictor = video_predictor_from_model(model, fill_hole_area=8, release_old_frames=True)  # bounded memory
    predictor.binarize_mask_from_pts_for_mem_enc = True  # as build_sam2_video_predictor's post-processing
    t1 = time.perf_counter()
    state = predictor.init_state(args.video)
    _add_prompts(predictor, state, prompts)
    labels = list(state["obj_ids"])
    if not resume:
        run.start()
    mask_dir.mkdir(parents=True, exist_ok=True)
    t2 = time.perf_counter()
    tracked = _track(predictor, state, prompts, args, run, mask_dir, resume)
    t3 = time.perf_counter()
    frames = tracked["frames"]
    order = sorted(frames)
    _write_pictures(out, state["images"], mask_dir, order, video=not args.no_video)
    result = {
        "video": str(args.video), "num_frames": state["num_frames"],
        "width": state["video_width"], "height": state["video_height"], "objects": labels,
        "prompts": prompts, "frames": {str(f): frames[f] for f in order},
        "timing_s": {"load_model": round(t1 - t0, 3), "prompts": round(t2 - t1, 3),
                     "propagate": round(tracked["propagate_s"], 3), "per_frame": round(tracked["per_frame_s"], 4),
                     "write": round(time.perf_counter() - t3, 3)},
        "resumed": tracked["resumes"], "settings": run.settings,
    }
    atomic_write_json(out / "track.json", result)
    run.finish()
    print(f"{len(order)} frame(s), {len(labels)} object(s) -> {out}/ (propagate {t3 - t2:.1f} s, "
          f"{1e3 * tracked['per_frame_s']:.0f} ms/frame)" + (" (resumed)" if resume else ""))
    return 0
