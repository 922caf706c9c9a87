"""Where the tests (and benchmarks/bench_label_studio.py) find Label Studio's own environment, talk
to label-studio-sdk inside it, and wait for a server they started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LS_VENV = Path(os.environ.get("SAMKIT_LABEL_STUDIO_VENV", REPO_ROOT / ".venv-labelstudio"))
LS_PYTHON = LS_VENV / "bin" / "python"
DRIVER = Path(__file__).with_name("ls_sdk_driver.py")


def require_ls_venv() -> None:
    import pytest

    if not (LS_VENV / "bin" / "label-studio").is_file():
        pytest.skip(f"Label Studio is not installed in {LS_VENV} (scripts/setup.sh installs it)")


def sdk(op: str, **cmd) -> dict:
    """Run one label-studio-sdk command in Label Studio's environment; its JSON answer."""
    proc = subprocess.run([str(LS_PYTHON), str(DRIVER)], input=json.dumps({"op": op, **cmd}), text=True,
                          capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"label-studio-sdk {op} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, seconds: float, log: Path | None = None) -> None:
    """Poll url/health until it answers 200; RuntimeError (with the log's tail) if proc exits first
    or `seconds` pass."""
    import httpx

    tail = (lambda: "\n" + log.read_text()[-3000:]) if log is not None else (lambda: "")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:{tail()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up in {seconds:.0f} s:{tail()}")
