"""Entry point of the `samkit` command.

Each subcommand lives in its own module of this package and exposes
`register(subparsers) -> None`, which adds its parser and sets `func=run` with
`run(args) -> int`. Errors that are the user's (samkit.errors.SamkitError, and
FileNotFoundError/PermissionError on their files) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, imported lazily so `samkit --help` stays fast and optional extras
# (onnx, serve, train) are only imported by the subcommand that needs them.
SUBCOMMANDS: tuple[str, ...] = (
    "segment",
    "track",
    "download",
    "auto",
    "eval",
    "export-onnx",
    "serve",
    "pretrain",
    "train",
    "finetune",
    "engine",
    "label-studio",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default exit code is already 2
        self.exit(2, f"samkit: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="samkit", description="Segment Anything, the whole system.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"samkit.cli.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from samkit.errors import SamkitError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SamkitError as e:
        _close_progress_bars()
        print(f"samkit {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
        _close_progress_bars()
        print(f"samkit {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _close_progress_bars()
        print(f"samkit {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _close_progress_bars() -> None:
    """End a progress bar the error interrupted, so the error is a line of its own."""
    std = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(std, "tqdm", None), "_instances", ()) or ()):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close must not hide the error
            pass


if __name__ == "__main__":
    sys.exit(main())
