"""One video's annotations on disk, next to the image annotations: FOLDER/.samkit/videos/<video id>/.

- session.json: the video it belongs to (path, frame count and size), its objects (ids, which are
  the DAVIS labels) and every object's prompt per frame, in the order they were last changed;
- masks/NNNNN.png: the masks of frame NNNNN as a DAVIS label map (indexed PNG, pixel value = object
  id, 0 background): exactly what the export zips, and what the page is sent when it scrubs.

Every file is written to a temporary file in the same folder and renamed over the old one, so a
server killed at any moment (kill -9 included) leaves each file whole, old or new. The prompts are
what a restarted server replays to rebuild the tracker's state; the PNGs are the masks as they were
shown and tracked.

Not thread-safe by itself: callers hold `lock` around a read-modify-write.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from samkit.video.mask_writer import davis_palette

SESSION_FILE = "session.json"
MASKS_DIR = "masks"
MAX_OBJECT_ID = 255  # label maps are uint8 (DAVIS)
_MASK_NAME = re.compile(r"^(\d{5,})\.png$")


@dataclass
class StoredPrompt:
    obj_id: int
    frame_idx: int
    points: list[list[float]]  # N x [x, y], video pixels
    labels: list[int]
    box: list[float] | None


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a unique temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def label_png_bytes(labels_hw: np.ndarray) -> bytes:
    """An H x W uint8 label map as a DAVIS indexed PNG (palette mode, DAVIS colours)."""
    img = Image.fromarray(np.ascontiguousarray(labels_hw, dtype=np.uint8), mode="P")
    img.putpalette(davis_palette())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


class VideoStore:
    """The stored session of one video (created empty on first use)."""

    def __init__(self, root: Path, video_rel: str, num_frames: int, width: int, height: int) -> None:
        """root: FOLDER/.samkit/videos/<video id>. A session stored for another frame count or size
        (the video was replaced) is moved aside to <id>.stale-<time> and a fresh one starts."""
        self.root = Path(root)
        self.masks_dir = self.root / MASKS_DIR
        self.video_rel, self.num_frames, self.width, self.height = video_rel, num_frames, width, height
        self.lock = threading.RLock()
        self.objects: list[int] = []
        self.prompts: list[StoredPrompt] = []
        self._load()

    # ------------------------------------------------------------------ session
    def _load(self) -> None:
        path = self.root / SESSION_FILE
        data = None
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                data = None
            if data is None or [data.get("num_frames"), data.get("width"), data.get("height")] != \
                    [self.num_frames, self.width, self.height]:
                self.root.rename(self.root.with_name(f"{self.root.name}.stale-{int(time.time())}"))
                data = None
        self.masks_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.masks_dir.glob(".*.tmp"):  # a write cut short by a kill
            leftover.unlink(missing_ok=True)
        if data:
            self.objects = [int(i) for i in data.get("objects", [])]
            self.prompts = [StoredPrompt(**p) for p in data.get("prompts", [])]

    def save(self) -> None:
        body = {"video": self.video_rel, "num_frames": self.num_frames, "width": self.width, "height": self.height,
                "objects": self.objects, "prompts": [asdict(p) for p in self.prompts]}
        atomic_write(self.root / SESSION_FILE, (json.dumps(body, indent=1) + "\n").encode())

    # ------------------------------------------------------------------ objects and prompts
    def new_object_id(self) -> int | None:
        """The next free id (1..255), or None when all are taken."""
        used = set(self.objects)
        start = max(used, default=0) + 1
        for i in list(range(start, MAX_OBJECT_ID + 1)) + list(range(1, start)):
            if i not in used:
                return i
        return None

    def add_object(self, obj_id: int) -> None:
        if obj_id not in self.objects:
            self.objects.append(obj_id)

    def set_prompt(self, prompt: StoredPrompt) -> None:
        """Replace the object's prompt on that frame; it becomes the latest (replayed last)."""
        self.prompts = [p for p in self.prompts if (p.obj_id, p.frame_idx) != (prompt.obj_id, prompt.frame_idx)]
        self.prompts.append(prompt)

    def clear_prompts(self, frame_idx: int, obj_id: int | None = None) -> list[int]:
        """Drop the prompts on a frame (of one object, or all); returns the objects that had one."""
        gone = [p.obj_id for p in self.prompts if p.frame_idx == frame_idx and obj_id in (None, p.obj_id)]
        self.prompts = [p for p in self.prompts if not (p.frame_idx == frame_idx and p.obj_id in gone)]
        return gone

    def frame_prompts(self, frame_idx: int) -> list[StoredPrompt]:
        return [p for p in self.prompts if p.frame_idx == frame_idx]

    def prompted_frames(self, obj_id: int | None = None) -> list[int]:
        return sorted({p.frame_idx for p in self.prompts if obj_id in (None, p.obj_id)})

    def remove_object(self, obj_id: int) -> None:
        """Forget the object, its prompts and its pixels on every stored frame."""
        self.objects = [i for i in self.objects if i != obj_id]
        self.prompts = [p for p in self.prompts if p.obj_id != obj_id]
        for t in self.masked_frames():
            labels = self.labels(t)
            if labels is not None and (labels == obj_id).any():
                labels[labels == obj_id] = 0
                self.write_labels(t, labels)
        self.save()

    # ------------------------------------------------------------------ masks
    def mask_path(self, frame_idx: int) -> Path:
        return self.masks_dir / f"{frame_idx:05d}.png"

    def masked_frames(self) -> list[int]:
        found = []
        for name in os.listdir(self.masks_dir):
            m = _MASK_NAME.match(name)
            if m and int(m.group(1)) < self.num_frames:
                found.append(int(m.group(1)))
        return sorted(found)

    def labels(self, frame_idx: int) -> np.ndarray | None:
        """The stored H x W uint8 label map of a frame, or None when it has none."""
        path = self.mask_path(frame_idx)
        try:
            with Image.open(path) as img:
                labels = np.array(img)
        except FileNotFoundError:
            return None
        if labels.shape != (self.height, self.width):  # cannot happen unless edited by hand
            return None
        return labels.astype(np.uint8)

    def write_labels(self, frame_idx: int, labels_hw: np.ndarray) -> None:
        atomic_write(self.mask_path(frame_idx), label_png_bytes(labels_hw))
