"""Where the tests find Label Studio's own environment and talk to label-studio-sdk inside it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LS_VENV = Path(os.environ.get("SAMKIT_LABEL_STUDIO_VENV", REPO_ROOT / ".venv-labelstudio"))
LS_PYTHON = LS_VENV / "bin" / "python"
DRIVER = Path(__file__).with_name("ls_sdk_driver.py")


def require_ls_venv() -> None:
    if not (LS_VENV / "bin" / "label-studio").is_file():
        pytest.skip(f"Label Studio is not installed in {LS_VENV} (scripts/setup.sh installs it)")


def sdk(op: str, **cmd) -> dict:
    """Run one label-studio-sdk command in Label Studio's environment; its JSON answer."""
    proc = subprocess.run([str(LS_PYTHON), str(DRIVER)], input=json.dumps({"op": op, **cmd}), text=True,
                          capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"label-studio-sdk {op} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)
