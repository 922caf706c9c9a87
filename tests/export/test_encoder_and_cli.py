"""The optional image-encoder export and the `samkit export-onnx` command."""

from __future__ import annotations

import argparse

import pytest

from samkit.export import check_encoder_parity, export_encoder
from samkit.export.parity import onnx_session


def test_encoder_export_symbolic_input_and_parity(tiny_model, tmp_path):
    path = export_encoder(tiny_model, tmp_path / "encoder.onnx")
    session = onnx_session(path)
    assert session.get_inputs()[0].name == "input_image"
    assert session.get_inputs()[0].shape == ["input_h", "input_w", 3]
    assert session.get_outputs()[0].name == "image_embeddings"
    diff = check_encoder_parity(tiny_model, path, input_hws=[(192, 256), (256, 100), (256, 256)])
    assert diff <= 1e-4


def test_tiny_vit_encoder_export(tmp_path):
    """MobileSAM's TinyViT (vit_t) encoder: its attention needs the math-kernel tracing."""
    import torch

    from samkit.build import build_sam

    torch.manual_seed(0)
    model = build_sam("tiny_vit_t").eval()
    path = export_encoder(model, tmp_path / "tiny_vit_t_encoder.onnx")
    assert check_encoder_parity(model, path, input_hws=[(192, 256)]) <= 1e-4


def _run_cli(argv: list[str]) -> int:
    """Parse and run with only this subcommand registered (others may not exist on this branch)."""
    from samkit.cli import export_onnx
    from samkit.cli.main import _Parser
    from samkit.errors import SamkitError

    parser = _Parser(prog="samkit")
    export_onnx.register(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SamkitError:
        return 2


def test_cli_exports_checks_and_quantizes(tmp_path, capsys):
    out = tmp_path / "tiny.onnx"
    assert _run_cli(["export-onnx", "--model", "tiny", "--output", str(out), "--quantize", "--device", "cpu",
                     "--check-points", "2"]) == 0
    text = capsys.readouterr().out
    assert "decoder parity: 8 cases" in text and "-> ok" in text
    assert "int8 vs fp32 mask IoU" in text
    assert out.is_file() and (tmp_path / "tiny.int8.onnx").is_file()
    # Never overwrite silently.
    assert _run_cli(["export-onnx", "--model", "tiny", "--output", str(out), "--no-check"]) == 2


def test_cli_rejects_bad_output_names(tmp_path):
    assert _run_cli(["export-onnx", "--model", "tiny", "--output", str(tmp_path / "x.bin")]) == 2
    assert _run_cli(["export-onnx", "--model", "tiny", "--output", str(tmp_path / "no" / "x.onnx")]) == 2


def test_cli_is_registered():
    from samkit.cli.main import SUBCOMMANDS

    assert "export-onnx" in SUBCOMMANDS and "serve" in SUBCOMMANDS


def test_cli_parser_help(capsys):
    with pytest.raises(SystemExit):
        _run_cli(["export-onnx", "--help"])
    assert "--encoder-output" in capsys.readouterr().out
    assert isinstance(argparse.ArgumentParser, type)
