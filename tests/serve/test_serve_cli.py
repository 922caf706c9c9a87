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
