"""`samkit engine annotate DIR`: the browser annotator on an engine project, in the data engine's modes.

  assisted (stage 1)        work through the project's queue; click objects with the model's help,
                            each accepted mask is stored with its clicks and seconds
  semi-automatic (stage 2)  the model's proposed masks count as accepted unless rejected (one click);
                            hatched regions are what no mask covers yet: add what the model missed
  review (stage 3)          accept or reject sampled automatic masks; the rejection rate is shown

Open the printed address; the page starts in the project's current stage (switch at the top left,
or add ?mode=assisted|semi|review). A model adopted by `samkit engine retrain` is picked up without
restarting. Several annotators may work on one project at once (one server each, or one page each
with ?annotator=NAME): images are leased, masks are only added, and a state change that races
another answers 409 instead of overwriting it.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from samkit.errors import InputError


def register_annotate(engine_subparsers) -> None:
    p = engine_subparsers.add_parser("annotate", help="annotate an engine project in the browser (stages 1-3)",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="the engine project (from `samkit engine init`)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: only this computer can connect)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--annotator", default=None,
                   help="name recorded with every mask and review (default: your user name)")
    p.add_argument("--static-dir", default=None, help="built web bundle (default: the packaged one)")
    p.set_defaults(func=run_annotate)


def _default_name() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "annotator"
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", name) or "annotator"


def run_annotate(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InputError(f"--port must be 1..65535, got {args.port}")
    name = args.annotator or _default_name()
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
        raise InputError(f"--annotator {name!r}: use 1-64 letters, digits or _ . @ -")
    from samkit.cli.serve import _is_loopback
    from samkit.engine.project import open_project

    project = open_project(args.dir)
    if not _is_loopback(args.host):
        print(f"samkit engine annotate: warning: binding {args.host} lets other computers change this project "
              "(there is no login)", file=sys.stderr)

    import uvicorn

    from samkit.engine.web_app import create_engine_app

    app = create_engine_app(project, name, static_dir=args.static_dir)
    print(f"samkit engine annotate: {project.dir.resolve()} as {name!r} at http://{args.host}:{args.port}/",
          file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
