"""`samkit finetune --checkpoint MODEL --data PATH [--run.mode full|frozen_encoder|decoder_only|lora]`

Fine-tunes a model (an official .pth or a samkit .safetensors) on your data with SAM's interactive
procedure. Same flags as `samkit train`; defaults suit fine-tuning (lower learning rate, short warmup).
"""

from __future__ import annotations

import argparse
import dataclasses

from samkit.cli.train import add_common, build_config, execute


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune a SAM checkpoint on your own masks",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", metavar="PATH", required=True, help="model to start from (.pth or .safetensors)")
    p.add_argument("--config", metavar="FILE", help="optional TOML/YAML config; flags override it")
    add_common(p)
    p.set_defaults(func=run)


def finetune_defaults():
    from samkit.training.config import OptimSection, RunSection, TrainConfig

    return TrainConfig(optim=OptimSection(lr=1e-4, warmup_steps=20), run=RunSection(run_dir="runs/finetune", max_steps=500))


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args, base=finetune_defaults())
    # The checkpoint decides the architecture; a preset given too must agree (checked on load).
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, checkpoint=args.checkpoint,
                                                             preset=args.cfg__model__preset or ""))
    return execute(cfg, args.resume)
