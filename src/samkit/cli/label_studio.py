"""`samkit label-studio`: a Label Studio ML backend (interactive SAM masks, pre-annotation, dataset).

Start Label Studio (its own environment), then this, then in the project's Settings > Model add
http://localhost:9090 with "Interactive preannotations" on. Smart KeyPointLabels (alt-click for a
negative point) and smart RectangleLabels become BrushLabels or PolygonLabels masks with the label
you chose; "Retrieve predictions" pre-annotates tasks with automatic mask generation; submitted
annotations are stored in --dataset-dir as a COCO dataset for `samkit finetune --data DIR`.
With a SAM 2 model (--model sam2), a box drawn on a frame of a <Video> (VideoRectangle) is tracked
through the next --video-max-frames frames.
Label Studio must be allowed to call a local backend: start it with ML_BLOCK_LOCAL_IP=false or
USE_DEFAULT_BANNED_SUBNETS=false. See docs/label-studio.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from samkit.cli.model_args import add_model_args, model_from_args
from samkit.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser("label-studio", help="Label Studio ML backend (interactive masks, pre-annotation)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: only this computer can connect)")
    p.add_argument("--port", type=int, default=9090)
    add_model_args(p)
    p.add_argument("--dataset-dir", default="samkit-label-studio-dataset",
                   help="where submitted annotations are stored as a COCO dataset (default ./samkit-label-studio-dataset)")
    p.add_argument("--cache-dir", default=None,
                   help="keep image embeddings on disk here, by content (default: DATASET_DIR/.embeddings)")
    p.add_argument("--label-studio-url", default=os.environ.get("LABEL_STUDIO_URL"),
                   help="Label Studio's address for fetching images (default: the hostname it sends in /setup; "
                        "env LABEL_STUDIO_URL)")
    p.add_argument("--video-max-frames", type=int, default=30,
                   help="SAM 2 video tasks: frames tracked after the last keyframe (default 30)")
    p.add_argument("--api-key", default=os.environ.get("LABEL_STUDIO_API_KEY"),
                   help="Label Studio access token for fetching images (default: the one it sends in /setup; "
                        "env LABEL_STUDIO_API_KEY)")
    g = p.add_argument_group("Retrieve predictions (automatic mask generation)")
    g.add_argument("--amg-points-per-side", type=int, default=16, help="grid points per side (default 16)")
    g.add_argument("--amg-pred-iou-thresh", type=float, default=None, help="default: the model's")
    g.add_argument("--amg-stability-thresh", type=float, default=None, help="default: the model's")
    g.add_argument("--amg-max-masks", type=int, default=50, help="most regions per task (default 50)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InputError(f"--port must be 1..65535, got {args.port}")
    if args.amg_points_per_side < 1 or args.amg_max_masks < 1 or args.video_max_frames < 1:
        raise InputError("--amg-points-per-side, --amg-max-masks and --video-max-frames must be positive")
    if bool(args.label_studio_url) != bool(args.api_key):
        raise InputError("--label-studio-url and --api-key go together (or leave both to what /setup sends)")
    dataset_dir = Path(args.dataset_dir)
    if dataset_dir.exists() and not dataset_dir.is_dir():
        raise InputError(f"--dataset-dir {dataset_dir} is a file")

    from samkit.integrations.label_studio.app import create_server
    from samkit.integrations.label_studio.backend import LabelStudioBackend
    from samkit.integrations.label_studio.dataset_writer import DatasetWriter
    from samkit.integrations.label_studio.image_fetch import LabelStudioAccess
    from samkit.integrations.label_studio.segmenter import AutomaticOptions, Segmenter

    writer = DatasetWriter(dataset_dir)  # a broken dataset JSON fails now, not on the first submission
    model = model_from_args(args)
    automatic = AutomaticOptions(points_per_side=args.amg_points_per_side, pred_iou_thresh=args.amg_pred_iou_thresh,
                                 stability_score_thresh=args.amg_stability_thresh, max_masks=args.amg_max_masks)
    segmenter = Segmenter(model, cache_dir=args.cache_dir or dataset_dir / ".embeddings", automatic=automatic)
    name = args.model or (Path(args.checkpoint).stem if args.checkpoint else "builtin")
    access = LabelStudioAccess(args.label_studio_url, args.api_key) if args.label_studio_url else None
    backend = LabelStudioBackend(segmenter, writer, model_version=f"samkit-{name}", access_override=access,
                                 video_max_frames=args.video_max_frames)
    try:
        server = create_server(backend, args.host, args.port)
    except OSError as e:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    print(f"samkit label-studio: ML backend at http://{args.host}:{args.port} (model {name}); "
          f"submitted annotations go to {dataset_dir.resolve()}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
