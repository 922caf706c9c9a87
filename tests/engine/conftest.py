"""Fixtures of the engine tests: a synthetic dataset (shapes + GT) and a tiny random checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_engine_data import tiny_checkpoint, write_dataset  # noqa: E402


@pytest.fixture(scope="session")
def engine_data(tmp_path_factory) -> Path:
    """folder/images (8 PNGs with shapes + 1 undecodable file) and folder/gt.json."""
    folder = tmp_path_factory.mktemp("engine_data")
    write_dataset(folder, 8, seed=0, bad=1)
    return folder


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("engine_model") / "tiny.safetensors")

