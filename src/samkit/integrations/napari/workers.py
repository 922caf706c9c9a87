"""Model work off napari's UI thread: napari thread workers with its progress bar, errors shown as
napari notifications.

A plain function runs with an indeterminate bar (encoding a slice); a generator with `total` steps
advances the bar once per yield (one per slice when propagating). `on_yielded` / `on_returned` run
on the UI thread (Qt queued signals), which is where layers may be changed.
"""

from __future__ import annotations

from typing import Callable

from samkit.errors import SamkitError


def report_error(exc: BaseException) -> None:
    """Show an error in napari: samkit's own errors by their message (they say what to do), others
    with their type."""
    from napari.utils.notifications import show_error

    show_error(str(exc) if isinstance(exc, (SamkitError, ValueError)) else f"{type(exc).__name__}: {exc}")


def start_worker(fn: Callable, *args, desc: str, total: int = 0, on_returned: Callable | None = None,
                 on_yielded: Callable | None = None, on_finished: Callable | None = None):
    """Run fn(*args) in a napari thread worker with a progress bar titled `desc`. Returns the worker
    (already started); its errors go to report_error instead of being raised."""
    from napari.qt.threading import create_worker

    worker = create_worker(fn, *args, _start_thread=False, _progress={"total": total, "desc": desc},
                           _ignore_errors=True)
    worker.errored.connect(report_error)
    if on_returned is not None:
        worker.returned.connect(on_returned)
    if on_yielded is not None and hasattr(worker, "yielded"):
        worker.yielded.connect(on_yielded)
    if on_finished is not None:
        worker.finished.connect(on_finished)
    worker.start()
    return worker
