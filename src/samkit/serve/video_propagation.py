"""Propagating a video's objects through its frames in the background, with progress to poll.

A job runs the video predictor's propagate_in_video pass by pass (forward, backward, or forward then
backward from the same start frame) in its own thread and writes each frame's label map as soon as
the frame is tracked, so the page can scrub through finished frames while the job runs, and a
server killed mid-way keeps every frame written so far. The model lock is taken per frame, not for
the whole job: prompts on other videos are answered between two frames. Cancelling stops after
the frame being tracked.
"""

from __future__ import annotations

import threading

from samkit.serve.video_schemas import PropagationStatus
from samkit.serve.video_tracker import VideoTracker
from samkit.video.mask_writer import label_map


def frame_passes(direction: str, start: int, num_frames: int) -> list[tuple[bool, int]]:
    """(reverse, number of frames) of each pass from `start` in `direction` (the predictor tracks
    nothing backward from frame 0)."""
    forward, backward = (False, num_frames - start), (True, start + 1 if start > 0 else 0)
    return {"forward": [forward], "backward": [backward], "both": [forward, backward]}[direction]


class PropagationJob:
    """One propagation of one video; `status()` is safe to call from any thread."""

    def __init__(self, tracker: VideoTracker, direction: str, start_frame_idx: int) -> None:
        self.tracker = tracker
        self.direction = direction
        self.start_frame_idx = start_frame_idx
        self.passes = frame_passes(direction, start_frame_idx, tracker.store.num_frames)
        self._total = sum(n for _, n in self.passes)
        self._done = 0
        self._current: int | None = None
        self._state = "running"
        self._error: str | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="samkit-video-propagate", daemon=True)

    def start(self) -> "PropagationJob":
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._state == "running"

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def status(self) -> PropagationStatus:
        return PropagationStatus(state=self._state, direction=self.direction, start_frame_idx=self.start_frame_idx,
                                 frames_done=self._done, frames_total=self._total,
                                 progress=round(self._done / self._total, 4) if self._total else 1.0,
                                 current_frame_idx=self._current, error=self._error)

    def _run(self) -> None:
        try:
            self._propagate()
            self._state = "cancelled" if self._cancel.is_set() else "done"
        except Exception as e:  # reported through status(); the server keeps serving
            self._error = f"{type(e).__name__}: {e}"
            self._state = "error"

    def _propagate(self) -> None:
        tracker = self.tracker
        with tracker.model_lock:
            state = tracker.ensure_state()
        for reverse, _ in self.passes:
            frames = tracker.predictor.propagate_in_video(state, start_frame_idx=self.start_frame_idx, reverse=reverse)
            try:
                while not self._cancel.is_set():
                    with tracker.model_lock:  # one frame of tracking at a time
                        item = next(frames, None)
                    if item is None:
                        break
                    frame_idx, obj_ids, masks = item
                    labels = label_map(masks, list(obj_ids))
                    with tracker.store.lock:
                        tracker.store.write_labels(frame_idx, labels)
                    self._current = frame_idx
                    self._done += 1
            finally:
                with tracker.model_lock:
                    frames.close()
            if self._cancel.is_set():
                return
