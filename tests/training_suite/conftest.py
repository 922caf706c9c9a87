"""A tiny on-disk instance dataset and a fast training config for trainer/CLI/DDP tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_suite.toy_training import fast_config_dict, write_toy_dataset


@pytest.fixture
def toy_data(tmp_path: Path) -> Path:
    return write_toy_dataset(tmp_path / "toy")


@pytest.fixture
def fast_config(toy_data, tmp_path):
    def make(**run):
        run_dir = run.pop("run_dir", tmp_path / "run")
        return fast_config_dict(toy_data, run_dir, **run)
    return make
