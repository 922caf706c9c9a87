"""The bookkeeping of one `samkit track` run: its settings, snapshots of the tracker's memory, and
atomic writes, so that a run killed at any point resumes from what it wrote and ends with the
masks an uninterrupted run writes.

Why snapshots: a tracked frame's mask depends on the memory bank (memories and object pointers of
the frames before it, which hold the model's soft logits, not the saved binary masks), and those
depend on the frames before them, back to the prompts. The written PNGs cannot rebuild it; running
the whole video again can, but costs as much as the first run. So the run keeps OUT/.track-run/:
- settings.json: everything that decides the masks (video files, prompts and their mask files,
  model weights, dtype, device, directions, --max-frames), fingerprinted;
- state.pt: after a frame is written, now and then (snapshots take at most ~10% of the tracking
  time), the memory bank as the predictor holds it (every object's conditioning outputs and the
  tracked outputs still inside the memory window: release_old_frames keeps it bounded), the pass
  and frame it belongs to, and the per-frame results so far.
A resumed run re-adds the prompts (a few frames), puts the snapshot's memory bank back, recomputes
the snapshot's frame and the few written after it, and goes on. The directory is removed once
track.json (the finished state) is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

RUN_DIR = ".track-run"
SNAPSHOT_SHARE = 0.1  # snapshots may take this share of the tracking time


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: a reader (or a run killed
    mid-write) never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def _file_stamp(path: Path) -> list:
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


def video_fingerprint(video: str) -> str:
    """A hash of the video file (or every file of a frame folder): names, sizes, modification times."""
    p = Path(video)
    stamps = [_file_stamp(f) for f in sorted(p.iterdir()) if f.is_file()] if p.is_dir() else [_file_stamp(p)]
    return hashlib.blake2b(json.dumps([str(p.resolve()), stamps]).encode(), digest_size=16).hexdigest()


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A hash of every parameter and buffer (names, dtypes, bytes): ~1 s per GB of weights."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def prompts_fingerprint(prompts: list[dict]) -> str:
    """The prompts as given, with the bytes of their mask files (a changed mask is another run)."""
    h = hashlib.blake2b(json.dumps(prompts, sort_keys=True).encode(), digest_size=16)
    for p in prompts:
        if p["mask"] is not None and Path(p["mask"]).is_file():
            h.update(Path(p["mask"]).read_bytes())
    return h.hexdigest()


class TrackRun:
    """OUT/.track-run/ of one run. `settings` is a JSON-able dict; two runs with equal settings
    write equal masks."""

    def __init__(self, out: Path, settings: dict) -> None:
        self.out, self.settings = out, settings
        self.dir = out / RUN_DIR
        self.snapshot_s = 0.0

    def earlier_settings(self) -> dict | None:
        """The settings of an interrupted run in OUT, or None when there is none."""
        try:
            return json.loads((self.dir / "settings.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def differences(self, other: dict) -> list[str]:
        """Names of the settings that differ from `other`'s."""
        keys = set(self.settings) | set(other)
        return sorted(k for k in keys if self.settings.get(k) != other.get(k))

    def start(self) -> None:
        """A fresh run: forget any snapshot, record the settings (before any mask is written)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        atomic_write_json(self.dir / "settings.json", self.settings)

    def load_snapshot(self) -> dict | None:
        """The latest snapshot: {"pass", "frame" (None: the pass has not started), "frames",
        "memory", "propagate_s", "resumes"}, or None."""
        path = self.dir / "state.pt"
        if not path.is_file():
            return None
        return torch.load(path, weights_only=True)  # tensors come back on the devices they were saved from

    def maybe_snapshot(self, snapshot: dict, propagate_s: float, force: bool = False) -> None:
        """Save `snapshot` unless snapshots have already taken SNAPSHOT_SHARE of `propagate_s`."""
        if not force and self.snapshot_s > SNAPSHOT_SHARE * propagate_s:
            return
        import io
        import time

        t0 = time.perf_counter()
        buf = io.BytesIO()
        torch.save(snapshot, buf)
        atomic_write_bytes(self.dir / "state.pt", buf.getvalue())
        self.snapshot_s += time.perf_counter() - t0

    def finish(self) -> None:
        """track.json is written: the bookkeeping is no longer needed."""
        shutil.rmtree(self.dir, ignore_errors=True)


def memory_bank(state: dict) -> dict:
    """What a snapshot keeps of the inference state: the per-object memory bank (cond and tracked
    outputs) and which frames each object has tracked."""
    return {"output_dict_per_obj": state["output_dict_per_obj"],
            "frames_tracked_per_obj": state["frames_tracked_per_obj"]}


def restore_memory_bank(state: dict, memory: dict) -> None:
    """Put a snapshot's memory bank back into an inference state with the same objects and prompts."""
    for key in ("output_dict_per_obj", "frames_tracked_per_obj"):
        state[key].clear()
        state[key].update({int(k): v for k, v in memory[key].items()})
