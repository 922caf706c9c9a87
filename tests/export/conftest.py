"""Fixtures for the ONNX export tests: one tiny model and its exported decoder per test module."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Every test here runs single-threaded (see tests/conftest.py); tiny_model comes from there."""
    yield


@pytest.fixture(scope="module")
def tiny_decoder_onnx(tiny_model, tmp_path_factory):
    from samkit.export import export_decoder

    return export_decoder(tiny_model, tmp_path_factory.mktemp("onnx") / "decoder.onnx")
