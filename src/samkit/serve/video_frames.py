"""Video frames for the page, as JPEG: the frame the model sees, at its original size or downscaled.

Frames of a folder are read from their files; frames of a video file are decoded with PyAV by a
reader kept open per video, which decodes forward from where it stands (scrubbing and playing move
forward frame by frame) and seeks to the key frame before a frame otherwise. Encoded JPEGs are kept
in a small LRU (by bytes), so scrubbing back and forth re-encodes nothing.

These readers are separate from the tracker's frame sources: the page may scrub while a video is
being propagated, and a PyAV decoder must not be shared between threads.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from samkit.errors import InputError
from samkit.serve.video_catalog import VideoEntry, VideoInfo
from samkit.video.frame_stream import VideoFileFrames

JPEG_QUALITY = 90
CACHE_BYTES = 64 * 2**20  # encoded frames kept for scrubbing
OPEN_FILES = 2  # video files kept open (their decoders)


class _FileFrames(VideoFileFrames):
    """A video file read at its original size, decoding forward when the next frame is asked for."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), image_size=16, cache_frames=1)  # the resized cache is unused

    def frame_rgb(self, index: int) -> np.ndarray:
        """Frame `index`: H x W x 3 uint8 RGB, the picture the tracker's frame source resizes."""
        frame = self._decode_to(self._check_index(index), keep=True)
        return frame.to_ndarray(format="rgb24")


class FrameImages:
    """`jpeg(entry, info, index, max_side)`: the JPEG bytes of a frame (thread-safe)."""

    def __init__(self, cache_bytes: int = CACHE_BYTES) -> None:
        self.cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self._jpegs: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._files: OrderedDict[tuple, tuple[_FileFrames, threading.Lock]] = OrderedDict()

    def jpeg(self, entry: VideoEntry, info: VideoInfo, index: int, max_side: int | None = None) -> bytes:
        """JPEG of frame `index` (0..num_frames-1, checked by the caller), its longest side at most
        max_side pixels (None: the original size). InputError when the frame cannot be read."""
        key = (entry.id, info.num_frames, info.width, info.height, index, max_side)
        with self._lock:
            data = self._jpegs.get(key)
            if data is not None:
                self._jpegs.move_to_end(key)
                return data
        data = _encode(self._rgb(entry, info, index), max_side)
        with self._lock:
            if key not in self._jpegs:
                self._jpegs[key] = data
                self._bytes += len(data)
            while self._bytes > self.cache_bytes and len(self._jpegs) > 1:
                _, old = self._jpegs.popitem(last=False)
                self._bytes -= len(old)
        return data

    def _rgb(self, entry: VideoEntry, info: VideoInfo, index: int) -> np.ndarray:
        if entry.kind == "frames":
            path = entry.path / info.frame_files[index]
            try:
                with Image.open(path) as img:
                    return np.asarray(img.convert("RGB"))
            except Exception as e:  # PIL raises several kinds for broken files
                raise InputError(f"cannot read frame {index} ({path}): {e}") from None
        reader, lock = self._file_reader(entry, info)
        with lock:
            return reader.frame_rgb(index)

    def _file_reader(self, entry: VideoEntry, info: VideoInfo) -> tuple[_FileFrames, threading.Lock]:
        key = (entry.id, info.num_frames, info.width, info.height)
        with self._lock:
            found = self._files.get(key)
            if found is not None:
                self._files.move_to_end(key)
                return found
        made = (_FileFrames(entry.path), threading.Lock())
        with self._lock:
            found = self._files.setdefault(key, made)
            self._files.move_to_end(key)
            while len(self._files) > OPEN_FILES:
                _, (old, old_lock) = self._files.popitem(last=False)
                with old_lock:
                    old.close()
        if found is not made:
            made[0].close()
        return found

    def close(self) -> None:
        with self._lock:
            files, self._files = list(self._files.values()), OrderedDict()
            self._jpegs.clear()
            self._bytes = 0
        for reader, lock in files:
            with lock:
                reader.close()


def _encode(rgb: np.ndarray, max_side: int | None) -> bytes:
    img = Image.fromarray(rgb)
    h, w = rgb.shape[:2]
    if max_side is not None and max(h, w) > max_side:
        s = max_side / max(h, w)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()
