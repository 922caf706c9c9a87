"""Fixtures for the ONNX export tests: one tiny model and its exported decoder per test module."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The CI machine's 2 cores are shared: several threads per op spin against each other and run
    4x slower than one. torch's setting is process-wide, so restore it afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_model(_one_thread):
    from samkit.build import build_sam

    torch.manual_seed(0)
    return build_sam("tiny").eval()


@pytest.fixture(scope="module")
def tiny_decoder_onnx(tiny_model, tmp_path_factory):
    from samkit.export import export_decoder

    return export_decoder(tiny_model, tmp_path_factory.mktemp("onnx") / "decoder.onnx")
