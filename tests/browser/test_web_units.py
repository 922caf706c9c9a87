"""Run the page's TypeScript unit tests (Vitest: RLE against pycocotools fixtures, float16, prompts,
coordinate frames, save queue) from pytest, so the project's one test command covers them too."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from browser.harness import REPO_ROOT

WEB = REPO_ROOT / "web"


def test_vitest_units():
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    if not (WEB / "node_modules" / ".bin" / "vitest").exists():
        pytest.skip("web/node_modules missing (npm --prefix web ci)")
    result = subprocess.run(["npm", "--prefix", str(WEB), "test", "--silent"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
