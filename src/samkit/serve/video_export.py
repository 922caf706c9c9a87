"""A video's masks as a DAVIS-format zip: VIDEO/NAME.png per frame, an indexed PNG whose pixel values
are the object ids (0 background) in the DAVIS palette, as DAVIS's Annotations/<sequence>/ holds them.

Every frame gets a PNG (an all-background one where nothing is stored), named after the frame's file
for a folder of frames (00000.jpg -> 00000.png, as DAVIS pairs JPEGImages with Annotations) and
NNNNN.png (the frame index) for a video file, as `samkit track` writes them.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from samkit.serve.video_catalog import VideoEntry, VideoInfo
from samkit.serve.video_store import VideoStore, label_png_bytes


def frame_mask_names(info: VideoInfo) -> list[str]:
    """The PNG name of every frame's masks, in frame order."""
    if info.frame_files:
        return [f"{os.path.splitext(name)[0]}.png" for name in info.frame_files]
    return [f"{i:05d}.png" for i in range(info.num_frames)]


def write_davis_zip(entry: VideoEntry, info: VideoInfo, store: VideoStore, directory: Path) -> Path:
    """Write the zip into a new temporary file in `directory`; returns its path (the caller removes it)."""
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".zip", dir=directory)
    os.close(fd)
    empty_png: bytes | None = None
    try:
        # PNGs are compressed already: stored, not deflated again.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for t, name in enumerate(frame_mask_names(info)):
                try:  # the stored PNG is already in DAVIS format (written whole: renamed into place)
                    data = store.mask_path(t).read_bytes()
                except FileNotFoundError:
                    if empty_png is None:
                        empty_png = label_png_bytes(np.zeros((info.height, info.width), np.uint8))
                    data = empty_png
                zf.writestr(f"{entry.name}/{name}", data)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)
