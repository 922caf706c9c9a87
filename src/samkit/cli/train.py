"""`samkit train --config FILE.toml|yaml [--section.field VALUE ...] [--resume auto|DIR]`

Runs SAM's interactive training procedure (docs/training.md). Every config field is also a flag
(--optim.lr 1e-4, --run.max-steps 2000, --run.mode lora); flags override the file. Under
`torchrun --nproc_per_node N` the same command trains data-parallel (NCCL on GPUs, gloo on CPU).
"""

from __future__ import annotations

import argparse
import json

from samkit.cli.config_flags import add_dataclass_flags, flag_overrides, merge_into


def add_common(p: argparse.ArgumentParser) -> None:
    from samkit.training.config import TrainConfig

    p.add_argument("--data", metavar="PATH", action="append", default=None,
                   help="a training source (COCO root or JSON, panoptic JSON, SA-1B folder, label-map folder, "
                        "one-PNG-per-object folder; format detected); repeat to mix; replaces data.train")
    p.add_argument("--val-data", metavar="PATH", action="append", default=None,
                   help="held-out source(s) for validation; replaces data.val (default: hold out data.val_fraction)")
    p.add_argument("--resume", metavar="auto|DIR", default=None,
                   help="continue a run exactly: 'auto' = the latest checkpoint in run.run_dir, or a checkpoint folder")
    add_dataclass_flags(p, TrainConfig)


def build_config(args: argparse.Namespace, base=None):
    from samkit.training.config import TrainConfig, load_config_file

    cfg = base if base is not None else TrainConfig()
    if getattr(args, "config", None):
        cfg = load_config_file(args.config, base=base)  # the file's keys over the command's defaults
    cfg = merge_into(cfg, flag_overrides(args))
    from samkit.data.specs import DatasetSpec
    import dataclasses

    if args.data:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train=tuple(DatasetSpec(p) for p in args.data)))
    if args.val_data:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, val=tuple(DatasetSpec(p) for p in args.val_data)))
    return cfg


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train SAM with the paper's interactive procedure",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="TOML or YAML training config (see docs/training.md)")
    add_common(p)
    p.set_defaults(func=run)


def execute(cfg, resume) -> int:
    from samkit.training.session import run_training

    out = run_training(cfg, resume=resume)
    trainer = out["trainer"]
    if trainer.dist.is_main:
        summary = {"step": out["step"], "checkpoint": out["checkpoint"]}
        if out["val"]:
            summary["val"] = {k: v for k, v in out["val"][-1].items() if k != "kind"}
        print(json.dumps(summary))
    return 0


def run(args: argparse.Namespace) -> int:
    return execute(build_config(args), args.resume)
