"""A folder of frame images (JPEG or PNG) as a frame source, read one frame at a time.

Frame order is the reference's: files named by their frame number ("00000.jpg", "17.jpg") sorted
by that number. Folders whose names are not all numbers (the reference refuses them) are sorted in
natural order ("frame2" before "frame10"). A folder holding both JPEGs and PNGs uses the JPEGs, as
the reference does (DAVIS keeps its PNG annotations in another folder, but not every dataset does).
"""

from __future__ import annotations

import os
import re

import numpy as np

from samkit.errors import InputError
from samkit.video.frame_source import FrameSource

JPEG_SUFFIXES = (".jpg", ".jpeg")
PNG_SUFFIXES = (".png",)


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frame_files(folder: str) -> list[str]:
    """The frame files of `folder` in frame order (file names, not paths). InputError when none."""
    try:
        names = os.listdir(folder)
    except OSError as e:
        raise InputError(f"cannot read the frame folder {folder}: {e.strerror or e}") from None
    suffix = lambda n: os.path.splitext(n)[1].lower()  # noqa: E731
    frames = [n for n in names if suffix(n) in JPEG_SUFFIXES]
    if not frames:
        frames = [n for n in names if suffix(n) in PNG_SUFFIXES]
    if not frames:
        raise InputError(f"no frames in {folder}: expected JPEG (.jpg/.jpeg) or PNG (.png) files named by frame "
                         f"number, e.g. 00000.jpg")
    stems = [os.path.splitext(n)[0] for n in frames]
    if all(s.isdigit() for s in stems):
        frames.sort(key=lambda n: int(os.path.splitext(n)[0]))
    else:
        frames.sort(key=_natural_key)
    return frames


class FolderFrames(FrameSource):
    """Frames from image files in a folder. The frame size is frame 0's (read from its header)."""

    def __init__(self, folder: str, image_size: int, cache_frames: int = 4) -> None:
        super().__init__(image_size, cache_frames)
        from PIL import Image

        self.folder = folder
        self.paths = [os.path.join(folder, n) for n in list_frame_files(folder)]
        self.num_frames = len(self.paths)
        try:
            with Image.open(self.paths[0]) as img:
                self.video_width, self.video_height = img.size
        except Exception as e:  # PIL raises several kinds for broken files
            raise InputError(f"cannot read frame {self.paths[0]}: {e}") from None

    def _open(self, index: int):
        from PIL import Image

        path = self.paths[index]
        try:
            img = Image.open(path)
            img.load()
        except Exception as e:
            raise InputError(f"cannot read frame {index} ({path}): {e}") from None
        return img

    def _read(self, index: int) -> np.ndarray:
        with self._open(index) as img:
            return self._resize(img)

    def original_frame(self, index: int) -> np.ndarray:
        with self._open(self._check_index(index)) as img:
            return np.array(img.convert("RGB"))
