"""`samkit serve` argument handling (the server itself is tested through create_app)."""

from __future__ import annotations

import pytest

from samkit.cli import serve
from samkit.cli.main import _Parser
from samkit.errors import SamkitError


def _parse(argv):
    parser = _Parser(prog="samkit")
    serve.register(parser.add_subparsers(dest="command", parser_class=_Parser))
    return parser.parse_args(["serve", *argv])


def test_defaults_bind_loopback():
    args = _parse([])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.folder == "."
    assert serve._is_loopback("127.0.0.1") and serve._is_loopback("::1") and serve._is_loopback("localhost")
    assert not serve._is_loopback("0.0.0.0")


@pytest.mark.parametrize("argv, message", [
    (["--port", "0"], "--port"),
    (["--max-upload-mb", "0"], "positive"),
    (["--decoder-onnx", "/nonexistent.onnx"], "no such file"),
])
def test_bad_flags_are_clear_errors(tmp_path, argv, message):
    with pytest.raises(SamkitError, match=message):
        serve.run(_parse([str(tmp_path), "--model", "tiny", *argv]))


def test_folder_that_is_a_file(tmp_path):
    f = tmp_path / "x.jpg"
    f.write_bytes(b"")
    with pytest.raises(SamkitError, match="expects a folder"):
        serve.run(_parse([str(f), "--model", "tiny"]))


def test_serve_command_runs_a_real_server(tmp_path):
    """`python -m samkit serve FOLDER` in a subprocess, with no model flags (the built-in model):
    binds 127.0.0.1, answers, stops cleanly on SIGTERM."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(folder / "red.png")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = Path(__file__).resolve().parents[2] / "src"
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "samkit", "serve", str(folder), "--device", "cpu",
         "--port", str(port), "--static-dir", str(tmp_path / "none")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/model", timeout=5)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"server did not start: {proc.stdout.read() if proc.poll() is not None else ''}")
                time.sleep(0.3)
        assert r.json()["name"] == "tiny_vit_cpu" and r.json()["img_size"] == 384 and r.headers["cross-origin-embedder-policy"] == "require-corp"
        images = httpx.get(f"http://127.0.0.1:{port}/api/images").json()
        assert [(im["file_name"], im["width"], im["height"]) for im in images] == [("red.png", 64, 48)]
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 503  # no bundle in --static-dir
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    # uvicorn shuts down gracefully, then re-raises the captured SIGTERM (exit status -15).
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert f"http://127.0.0.1:{port}/" in out and "Traceback" not in out
    assert (folder / ".samkit" / "annotations.sqlite").is_file()
