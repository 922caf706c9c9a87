"""`samkit serve [FOLDER]`: annotate a folder of images in the browser.

The image is encoded once on the server (cached in FOLDER/.samkit/embeddings); every click is then
decoded in the page by the ONNX decoder (SAM 1 models) or, for SAM 2 models (--model sam2.1_hiera_t,
--checkpoint sam2.1_hiera_tiny.pt), on the server from the cached features (the page sends the
prompt and draws the low-res logits it gets back). Annotations are stored in FOLDER/.samkit/annotations.sqlite
as COCO RLE, so nothing is lost on reload or restart; export COCO JSON or PNG masks from the page.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from samkit.cli.model_args import add_model_args, model_family_from_args, model_from_args
from samkit.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="browser annotator for a folder of images",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", default=".", help="folder of images (default: current folder)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: only this computer can connect)")
    p.add_argument("--port", type=int, default=8000)
    add_model_args(p)
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest accepted upload (default 50 MB)")
    p.add_argument("--max-megapixels", type=float, default=60.0, help="largest accepted image (default 60 MP)")
    p.add_argument("--decoder-onnx", metavar="FILE", default=None,
                   help="serve this ONNX decoder (from `samkit export-onnx`) instead of exporting one (SAM 1)")
    p.add_argument("--quantize-decoder", action="store_true", help="serve the int8 quantised decoder (SAM 1)")
    p.add_argument("--static-dir", default=None, help="built web bundle (default: the packaged one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file; samkit serve expects a folder of images")
    if not 0 < args.port < 65536:
        raise InputError(f"--port must be 1..65535, got {args.port}")
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0:
        raise InputError("--max-upload-mb and --max-megapixels must be positive")
    if args.decoder_onnx and not Path(args.decoder_onnx).is_file():
        raise InputError(f"--decoder-onnx {args.decoder_onnx}: no such file")
    if (args.decoder_onnx or args.quantize_decoder) and model_family_from_args(args) == "sam2":
        raise InputError("a SAM 2 model is decoded on the server: --decoder-onnx and --quantize-decoder are for "
                         "SAM 1 models")
    if not _is_loopback(args.host):
        print(f"samkit serve: warning: binding {args.host} lets other computers read and change this folder's "
              "images and annotations (there is no login)", file=sys.stderr)

    import uvicorn

    from samkit.serve import UploadLimits, create_app

    model = model_from_args(args)
    limits = UploadLimits(max_bytes=int(args.max_upload_mb * 2**20), max_pixels=int(args.max_megapixels * 1e6))
    app = create_app(folder, model, static_dir=args.static_dir, limits=limits, decoder_onnx=args.decoder_onnx,
                     quantize_decoder=args.quantize_decoder)
    print(f"samkit serve: {folder.resolve()} at http://{args.host}:{args.port}/", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
