"""Fixtures for the ONNX export tests: one tiny model and its exported decoder per test module."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_model():
    from samkit.build import build_sam

    torch.manual_seed(0)
    return build_sam("tiny").eval()


@pytest.fixture(scope="module")
def tiny_decoder_onnx(tiny_model, tmp_path_factory):
    from samkit.export import export_decoder

    return export_decoder(tiny_model, tmp_path_factory.mktemp("onnx") / "decoder.onnx")
