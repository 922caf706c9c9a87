"""The model flags every subcommand shares: --model, --checkpoint, --device, --dtype.

They mirror `samkit.load_model(name, checkpoint, device, dtype)`: with neither --model nor
--checkpoint, the built-in model shipped in the package is used (docs/model-card.md). SAM 2 names
(sam2.1_hiera_t, ..., official config names) and checkpoints (sam2.1_hiera_tiny.pt, samkit SAM 2
.safetensors) give a SAM 2 model; `model_family_from_args` tells which family before loading it.
"""

from __future__ import annotations

import argparse


def add_model_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", metavar="NAME", default=None,
                   help="preset name (vit_b, vit_l, vit_h, vit_t, ...; SAM 2: sam2.1_hiera_t/s/b+/l, sam2_hiera_t/s/b+/l): "
                        "random weights without --checkpoint; optional with a samkit checkpoint. "
                        "'sam2': samkit's built-in SAM 2 model. Neither flag: samkit's built-in model "
                        "(SAM 2's for `samkit track`)")
    g.add_argument("--checkpoint", metavar="PATH", default=None,
                   help="official .pth/.pt state dict (SAM, MobileSAM, SAM 2/2.1) or a samkit .safetensors checkpoint")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    g.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16", "auto", "int8"],
                   help="compute dtype (default float32; auto = the fastest path measured for this CPU/GPU; int8 = OpenVINO + NNCF int8 encoder on CPU, needs samkit[openvino])")


def model_from_args(args: argparse.Namespace):
    from samkit.build import load_model

    return load_model(name=args.model, checkpoint=args.checkpoint, device=args.device, dtype=args.dtype)


def model_family_from_args(args: argparse.Namespace) -> str:
    """"sam2" or "sam1" for --model/--checkpoint, without building the model (see
    samkit.inference.model_family.family_of)."""
    from samkit.inference.model_family import family_of

    return family_of(args.model, args.checkpoint)
