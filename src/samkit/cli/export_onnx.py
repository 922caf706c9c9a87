"""`samkit export-onnx`: write the promptable decoder (and optionally the image encoder) as ONNX.

The decoder keeps the official SAM ONNX input/output names, so front-ends built for the official
demo load it unchanged. Every export is checked against PyTorch on random prompts before the
command reports success (--no-check skips that).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from samkit.cli.model_args import add_model_args, model_from_args
from samkit.errors import InputError

FP32_TOLERANCE = 1e-4
INT8_MIN_MEAN_IOU = 0.98


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-onnx", help="export the prompt encoder + mask decoder (and the image encoder) to ONNX",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    p.add_argument("--output", "-o", required=True, metavar="FILE.onnx", help="decoder ONNX file to write")
    p.add_argument("--quantize", action="store_true",
                   help="also write an int8 dynamically quantised decoder next to it (FILE.int8.onnx)")
    p.add_argument("--encoder-output", metavar="FILE.onnx", default=None,
                   help="also export the image encoder (input: RGB HxWx3 float, longest side = img_size)")
    p.add_argument("--single-mask", action="store_true",
                   help="official demo variant: return one mask (best of 3 for one point, else output 0)")
    p.add_argument("--no-stability", action="store_true", help="leave out the extra stability_scores output")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--no-check", action="store_true", help="skip the parity check against PyTorch")
    p.add_argument("--check-points", type=int, default=10, metavar="N",
                   help="parity cases: 1..N points, each with/without a box and a mask input (default 10)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=run)


def _check_writable(paths: list[Path], force: bool) -> None:
    for path in paths:
        if path.suffix != ".onnx":
            raise InputError(f"output file {path} should end in .onnx")
        if path.exists() and not force:
            raise InputError(f"{path} already exists; pass --force to overwrite it")
        if not path.parent.exists():
            raise InputError(f"folder {path.parent} does not exist")


def run(args: argparse.Namespace) -> int:
    from samkit.export import (
        check_decoder_parity, check_encoder_parity, export_decoder, export_encoder, mask_iou_between,
        quantize_decoder,
    )
    from samkit.export.decoder_export import as_cpu_fp32
    from samkit.export.parity import random_cases

    output = Path(args.output)
    int8_output = output.with_suffix(".int8.onnx")
    encoder_output = Path(args.encoder_output) if args.encoder_output else None
    _check_writable([output] + ([int8_output] if args.quantize else []) + ([encoder_output] if encoder_output else []),
                    args.force)

    if args.check_points < 1:
        raise InputError(f"--check-points must be at least 1, got {args.check_points}")
    model = as_cpu_fp32(model_from_args(args))
    print(f"exporting the decoder to {output} ...", file=sys.stderr)
    export_decoder(model, output, single_mask=args.single_mask, stability_output=not args.no_stability,
                   opset=args.opset)
    failed = False
    cases = random_cases(model, max_points=args.check_points)
    if not args.no_check:
        report = check_decoder_parity(model, output, cases)
        ok = report.passed(FP32_TOLERANCE)
        failed |= not ok
        print(f"decoder parity: {report.summary()} -> {'ok' if ok else 'FAILED'} (tolerance {FP32_TOLERANCE:g} x max(1, |torch|))")
    if args.quantize:
        quantize_decoder(output, int8_output)
        print(f"wrote int8 decoder {int8_output} ({_mb(int8_output)} MB, fp32 {_mb(output)} MB)")
        if not args.no_check:
            mean_iou, min_iou = mask_iou_between(output, int8_output, model, cases)
            ok = mean_iou >= INT8_MIN_MEAN_IOU
            failed |= not ok
            print(f"int8 vs fp32 mask IoU: mean {mean_iou:.4f}, min {min_iou:.4f} -> {'ok' if ok else 'FAILED'}")
    if encoder_output:
        print(f"exporting the image encoder to {encoder_output} ...", file=sys.stderr)
        export_encoder(model, encoder_output, opset=args.opset)
        if not args.no_check:
            diff = check_encoder_parity(model, encoder_output)
            ok = diff <= FP32_TOLERANCE * 10  # a 12-block encoder accumulates more rounding than the decoder
            failed |= not ok
            print(f"encoder parity: max |onnx - torch| {diff:.2e} -> {'ok' if ok else 'FAILED'}")
    print(f"wrote {output} ({_mb(output)} MB)")
    return 1 if failed else 0


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.1f}"
