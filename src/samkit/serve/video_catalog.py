"""The videos of the served folder: video files and folders of frames, each with a stable id.

A video is a video file (.mp4, .mov, .avi, .webm, .mkv, .m4v; decoded with PyAV) or a folder of
frames: at least two JPEG files (or PNG files, when the folder has no JPEG) whose names end in a
frame number after one common prefix (00000.jpg, 00001.jpg, ... as DAVIS and SAM 2 name them, or
frame_1.png, frame_2.png, ...). A folder of frames is one video; the folder itself counts too. Hidden
folders (.samkit among them) are skipped. The id is a hash of the relative path, so it survives
restarts and is the name of the video's state folder (FOLDER/.samkit/videos/<id>/).

Facts that need the file to be opened (frame count, size) are probed once per version of the file
(size and modification time; for a folder of frames its own modification time and frame count).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from samkit.errors import InputError
from samkit.video.frame_folder import JPEG_SUFFIXES, PNG_SUFFIXES, list_frame_files
from samkit.video.frame_source import VIDEO_FILE_SUFFIXES

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_PROBE_SIZE = 16  # the frame sources resize frame 0 when opened; nothing looks at it when probing


@dataclass(frozen=True)
class VideoEntry:
    id: str
    rel: str  # relative to the served folder, '/'-separated; '.' for the folder itself
    kind: str  # "file" | "frames"
    path: Path

    @property
    def name(self) -> str:
        """A file-system-safe name (the export's folder name)."""
        base = self.path.stem if self.kind == "file" else self.path.name
        return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "video"


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    width: int
    height: int
    frame_files: tuple[str, ...]  # frame file names in frame order (folders); () for video files
    error: str | None = None  # why the video cannot be read (then num_frames is 0)


def video_id(rel: str) -> str:
    return hashlib.blake2b(rel.encode(), digest_size=6).hexdigest()


def is_frame_folder(file_names: list[str]) -> bool:
    """Whether these file names make a folder of frames (see the module docstring)."""
    suffix = lambda n: os.path.splitext(n)[1].lower()  # noqa: E731
    frames = [n for n in file_names if suffix(n) in JPEG_SUFFIXES and not n.startswith(".")]
    if not frames:
        frames = [n for n in file_names if suffix(n) in PNG_SUFFIXES and not n.startswith(".")]
    if len(frames) < 2:
        return False
    prefixes = set()
    for name in frames:
        m = _NUMBERED.match(os.path.splitext(name)[0])
        if m is None:
            return False
        prefixes.add(m.group(1))
    return len(prefixes) == 1


class VideoCatalog:
    """The served folder's videos; `scan()` lists them, `entry(id)` finds one, `info(entry)` probes it."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).resolve()
        self._lock = threading.Lock()
        self._by_id: dict[str, VideoEntry] = {}
        self._probed: dict[str, tuple[tuple, VideoInfo]] = {}  # id -> (stamp, info)

    def scan(self) -> list[VideoEntry]:
        found = []
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            here = Path(root)
            if is_frame_folder(files):
                found.append(self._entry(here, "frames"))
            for name in sorted(files):
                if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_FILE_SUFFIXES:
                    found.append(self._entry(here / name, "file"))
        found.sort(key=lambda e: e.rel)
        with self._lock:
            self._by_id = {e.id: e for e in found}
        return found

    def entry(self, vid: str) -> VideoEntry | None:
        """The video with this id, if it is (still) in the folder."""
        with self._lock:
            known = self._by_id.get(vid)
        if known is None or not known.path.exists():
            known = next((e for e in self.scan() if e.id == vid), None)
        return known

    def _entry(self, path: Path, kind: str) -> VideoEntry:
        rel = path.relative_to(self.folder).as_posix() or "."
        return VideoEntry(video_id(rel), rel, kind, path)

    def info(self, entry: VideoEntry) -> VideoInfo:
        """Frame count and size (probed once per version of the file or folder)."""
        stamp = self._stamp(entry)
        with self._lock:
            cached = self._probed.get(entry.id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        info = self._probe(entry)
        with self._lock:
            self._probed[entry.id] = (stamp, info)
        return info

    def _stamp(self, entry: VideoEntry) -> tuple:
        try:
            st = entry.path.stat()
        except OSError:
            return ("missing",)
        if entry.kind == "frames":
            return (st.st_mtime_ns, len(os.listdir(entry.path)))
        return (st.st_size, st.st_mtime_ns)

    def _probe(self, entry: VideoEntry) -> VideoInfo:
        from samkit.video.open_frames import open_frame_source

        try:
            names = tuple(list_frame_files(str(entry.path))) if entry.kind == "frames" else ()
            source = open_frame_source(str(entry.path), _PROBE_SIZE, cache_frames=1)
            try:
                return VideoInfo(len(source), int(source.video_width), int(source.video_height), names)
            finally:
                source.close()
        except InputError as e:
            return VideoInfo(0, 0, 0, (), error=str(e))
