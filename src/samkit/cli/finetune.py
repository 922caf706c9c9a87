"""`samkit finetune [--model NAME] [--checkpoint MODEL] --data PATH [--format FMT] [--mode MODE]`

Fine-tunes a model (an official .pth/.pt or a samkit .safetensors, SAM 1 or SAM 2) on your data:
SAM's interactive procedure for SAM 1, SAM 2's (clips, memory, corrective clicks) for SAM 2. Same
flags as `samkit train`; defaults suit fine-tuning (lower learning rate, short warmup). With SAM 2
and only image data (COCO, LabPics, label maps, ...) each example is one image (sam2.num_frames 1,
SAM's task); with video data (DAVIS, YouTube-VOS, SA-V) clips of 8 frames.

    samkit finetune --model sam2.1_hiera_t --checkpoint sam2.1_hiera_tiny.pt --data LabPicsV1 --format labpics --mode lora
"""

from __future__ import annotations

import argparse
import dataclasses

from samkit.cli.train import add_common, build_config, execute

MODES = {"full": "full", "frozen-encoder": "frozen_encoder", "frozen_encoder": "frozen_encoder",
         "decoder-only": "decoder_only", "decoder_only": "decoder_only", "lora": "lora"}


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune a SAM or SAM 2 checkpoint on your own masks",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", metavar="PATH", default=None,
                   help="model to start from (.pth / .pt / .safetensors; SAM 1 or SAM 2); default: samkit's "
                        "built-in model (SAM 1), or its built-in SAM 2 with --model sam2")
    p.add_argument("--model", metavar="NAME", default=None,
                   help="the checkpoint's preset (e.g. sam2.1_hiera_t, vit_b), checked against the file; "
                        "'sam2' alone: samkit's built-in SAM 2 model")
    p.add_argument("--format", metavar="FMT", default=None,
                   help="format of every --data source (coco, labpics, davis, youtube_vos, sa_v, label_maps, ...; "
                        "default: detected per source)")
    p.add_argument("--mode", choices=sorted(MODES), default=None,
                   help="what to train: full, frozen-encoder, decoder-only or lora (same as --run.mode)")
    p.add_argument("--config", metavar="FILE", help="optional TOML/YAML config; flags override it")
    add_common(p)
    p.set_defaults(func=run)


def finetune_defaults():
    from samkit.training.config import OptimSection, RunSection, TrainConfig

    return TrainConfig(optim=OptimSection(lr=1e-4, warmup_steps=20), run=RunSection(run_dir="runs/finetune", max_steps=500))


def _only_image_data(cfg) -> bool:
    from samkit.data.specs import detect_format
    from samkit.data.video_datasets import VIDEO_FORMATS

    return all(detect_format(spec).format not in VIDEO_FORMATS for spec in cfg.data.train)


def _labpics_official_split(cfg):
    """With no --val-data, a LabPics root trains on its Train folders and validates on its Test
    folders (the dataset's own split) instead of holding out a fraction of everything."""
    from samkit.data.specs import detect_format

    if cfg.data.val:
        return cfg
    train, val = [], []
    for spec in cfg.data.train:
        spec = detect_format(spec)
        if spec.format == "labpics" and not spec.split and _has_split(spec.path, "Test"):
            train.append(dataclasses.replace(spec, split="train"))
            val.append(dataclasses.replace(spec, split="test"))
        else:
            train.append(spec)
    if not val:
        return cfg
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, train=tuple(train), val=tuple(val)))


def _has_split(root: str, name: str) -> bool:
    from pathlib import Path

    return any(p.is_dir() for p in Path(root).glob(f"**/{name}/Image"))


def _starting_point(checkpoint: str | None, preset: str) -> tuple[str, str]:
    """(checkpoint file, preset to check it against): no checkpoint means a built-in model's file,
    whose preset the file itself states."""
    from samkit.default_model import BUILTIN_SAM2_NAMES, default_weights
    from samkit.errors import InputError

    if preset in BUILTIN_SAM2_NAMES:
        return (checkpoint or str(default_weights(sam2=True))), ""
    if checkpoint:
        return checkpoint, preset
    if preset:
        raise InputError(f"--model {preset} without --checkpoint would fine-tune random weights: pass --checkpoint "
                         "PATH with that model's weights (or --model sam2, or neither, for samkit's built-in models)")
    return str(default_weights()), ""


def run(args: argparse.Namespace) -> int:
    from samkit.build import read_checkpoint_config
    from samkit.config_sam2 import Sam2Config, is_sam2_name

    cfg = build_config(args, base=finetune_defaults())
    # --checkpoint, else the config file's model.checkpoint, else a built-in model's file.
    args.checkpoint, preset = _starting_point(args.checkpoint or cfg.model.checkpoint or None,
                                              args.model or args.cfg__model__preset or "")
    # The checkpoint decides the architecture; a preset given too must agree (checked on load).
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, checkpoint=args.checkpoint, preset=preset))
    if args.mode:
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, mode=MODES[args.mode]))
    if args.format:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(
            cfg.data, train=tuple(dataclasses.replace(s, format=args.format) for s in cfg.data.train),
            val=tuple(dataclasses.replace(s, format=args.format) for s in cfg.data.val)))
    cfg = _labpics_official_split(cfg)
    sam2 = is_sam2_name(preset)
    if not preset and str(args.checkpoint).endswith(".safetensors"):
        sam2 = isinstance(read_checkpoint_config(args.checkpoint)[0], Sam2Config)
    elif not preset:
        from samkit.checkpoint_files import read_torch_state_dict
        from samkit.checkpoint_sam2 import checkpoint_family

        sam2 = checkpoint_family(read_torch_state_dict(args.checkpoint)) == "sam2"
    if sam2 and args.cfg__sam2__num_frames is None and cfg.data.train and _only_image_data(cfg):
        cfg = dataclasses.replace(cfg, sam2=dataclasses.replace(cfg.sam2, num_frames=1))
    return execute(cfg, args.resume)
