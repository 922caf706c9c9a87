"""Fixtures of the napari plugin tests: a real napari viewer (show=False) on a real X server (Xvfb,
started here when no DISPLAY is set: napari's OpenGL canvas does not start on Qt's offscreen
platform), and tiny random-weight SAM 1 / SAM 2 checkpoints the widgets load as "checkpoint file".

scripts/setup.sh installs napari (the `napari` extra), pytest-qt and, as root, Debian's xvfb with
Qt's xcb libraries; without them these tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest


@pytest.fixture(scope="session")
def x_display():
    """A DISPLAY for Qt: the one set, or a private Xvfb. Xvfb runs with -terminate, so it exits when
    the test process (its last client) closes its connection; it is killed here only if Qt never
    connected (killing it under a live QApplication would make Qt exit the process)."""
    pytest.importorskip("napari")
    pytest.importorskip("pytestqt")
    if os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no DISPLAY and no Xvfb (scripts/setup.sh installs Debian's xvfb when run as root)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp",
                             "-terminate"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()  # Xvfb writes its display number here once it accepts clients
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not start")
    os.environ["DISPLAY"] = f":{number}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    yield os.environ["DISPLAY"]
    from qtpy.QtWidgets import QApplication

    if QApplication.instance() is None:
        proc.terminate()


@pytest.fixture
def viewer(x_display, qtbot):
    """A napari Viewer that is never shown, closed after the test."""
    import napari
    from napari.utils.notifications import notification_manager

    notification_manager.records.clear()
    v = napari.Viewer(show=False)
    yield v
    v.close()


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """{"sam1": path, "sam2": path}: tiny presets with seeded random weights saved as samkit
    .safetensors (what a user's fine-tuned checkpoint looks like)."""
    import torch

    from samkit.build import build_sam, save_checkpoint
    from samkit.builder_sam2 import build_sam2_model
    from samkit.config_sam2 import get_sam2_preset

    folder = tmp_path_factory.mktemp("napari_models")
    torch.manual_seed(0)
    sam1 = save_checkpoint(build_sam("tiny").eval(), folder / "tiny_sam1.safetensors")
    torch.manual_seed(0)
    sam2 = save_checkpoint(build_sam2_model(get_sam2_preset("sam2_test_tiny")).eval(), folder / "tiny_sam2.safetensors")
    return {"sam1": sam1, "sam2": sam2}


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    yield


@pytest.fixture
def wait_for(qtbot):
    """wait_for(widget, n): wait until the widget's worker has finished `n` runs (its results are
    written on the UI thread when it finishes)."""
    def wait(widget, n: int, timeout_ms: int = 60000) -> None:
        qtbot.waitUntil(lambda: widget.completed >= n, timeout=timeout_ms)

    return wait


@pytest.fixture
def error_messages():
    """error_messages(): the error notifications napari showed since the viewer fixture started."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    return lambda: [str(n.message) for n in notification_manager.records if n.severity == NotificationSeverity.ERROR]


@pytest.fixture
def synthetic_stack():
    return make_stack


def make_stack(num_slices: int = 6, hw: tuple[int, int] = (64, 80)) -> np.ndarray:
    """Z x Y x X uint8 grayscale: noise plus a bright disc that drifts right slice by slice."""
    rng = np.random.default_rng(0)
    h, w = hw
    yy, xx = np.mgrid[:h, :w]
    stack = (rng.random((num_slices, h, w)) * 60 + 30).astype(np.uint8)
    for z in range(num_slices):
        stack[z][(yy - 30) ** 2 + (xx - 25 - 3 * z) ** 2 <= 120] = 220
    return stack
