"""`samkit download vit_b|vit_l|vit_h|vit_t|sam2.1_hiera_t|...`: fetch an official checkpoint (resumable,
verified where a checksum is known)."""

from __future__ import annotations

import argparse

from samkit.download import OFFICIAL_CHECKPOINTS, OFFICIAL_SAM2_CHECKPOINTS


def register(subparsers) -> None:
    p = subparsers.add_parser("download", help="download an official SAM / MobileSAM / SAM 2 checkpoint",
                              description="Download an official checkpoint with SHA-256 verification and resume "
                                          "(SAM 2 files have no published checksum: the computed one is printed).")
    p.add_argument("preset", choices=sorted(OFFICIAL_CHECKPOINTS) + sorted(OFFICIAL_SAM2_CHECKPOINTS))
    p.add_argument("--dir", default=None, help="target directory (default: $SAMKIT_HOME/checkpoints or "
                                               "~/.cache/samkit/checkpoints)")
    p.add_argument("--url", default=None, help="download from this mirror instead of the official URL")
    p.add_argument("--sha256", default=None, help="expected SHA-256 when --url serves a different file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from samkit.download import download_checkpoint

    path = download_checkpoint(args.preset, args.dir, url=args.url, sha256=args.sha256, progress=not args.quiet)
    print(path)
    return 0
