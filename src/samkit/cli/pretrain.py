"""`samkit pretrain --config FILE.toml|yaml [--section.field VALUE ...] [--resume auto|DIR]`

MAE pre-training of the image encoder (docs/training.md, "MAE pre-training"): 75% of the patches
are hidden, the encoder sees the rest, a light decoder reconstructs the hidden pixels. Every config
field is also a flag (--mae.mask-ratio 0.75, --run.max-steps 2000). Reconstruction pictures go to
<run_dir>/reconstructions/. The checkpoints' model.safetensors is a Sam with the pretrained
encoder: start SAM training from it with `samkit train --model.checkpoint PATH`. Under
`torchrun --nproc_per_node N` the same command runs data-parallel.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from samkit.cli.config_flags import add_dataclass_flags, flag_overrides, merge_into


def register(subparsers) -> None:
    from samkit.training.pretrain_config import PretrainConfig

    p = subparsers.add_parser("pretrain", help="MAE pre-training of the image encoder",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="TOML or YAML config (see docs/training.md)")
    p.add_argument("--data", metavar="PATH", action="append", default=None,
                   help="an image source (any training dataset format; masks are ignored); repeat to mix; "
                        "replaces data.train")
    p.add_argument("--resume", metavar="auto|DIR", default=None,
                   help="continue a run exactly: 'auto' = the latest checkpoint in run.run_dir, or a checkpoint folder")
    add_dataclass_flags(p, PretrainConfig)
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    from samkit.data.specs import DatasetSpec
    from samkit.training.config import load_config_file
    from samkit.training.pretrain_config import PretrainConfig

    cfg = load_config_file(args.config, PretrainConfig) if args.config else PretrainConfig()
    cfg = merge_into(cfg, flag_overrides(args))
    if args.data:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train=tuple(DatasetSpec(p) for p in args.data)))
    return cfg


def run(args: argparse.Namespace) -> int:
    from samkit.training.pretrain_session import run_pretraining

    out = run_pretraining(build_config(args), resume=args.resume)
    if out["trainer"].dist.is_main:
        summary = {"step": out["step"], "checkpoint": out["checkpoint"]}
        if out["val"]:
            summary["val"] = {k: v for k, v in out["val"][-1].items() if k != "kind"}
        print(json.dumps(summary))
    return 0
