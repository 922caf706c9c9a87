"""Which frame source a `video_path` needs: a folder of JPEG/PNG frames (FolderFrames), a video
file or its bytes (VideoFileFrames, PyAV), or a FrameSource given as is. Kept apart from the
FrameSource base so the base does not import its own subclasses."""

from __future__ import annotations

import io
import os

from samkit.errors import InputError
from samkit.video.frame_folder import FolderFrames
from samkit.video.frame_source import VIDEO_FILE_SUFFIXES, FrameSource
from samkit.video.frame_stream import VideoFileFrames


def open_frame_source(video_path, image_size: int, cache_frames: int = 4) -> FrameSource:
    """A frame source for `video_path`: a folder of JPEG/PNG frames, a video file (MP4, MOV, AVI,
    WebM, MKV), or the bytes of a video file. A FrameSource is returned unchanged."""
    if isinstance(video_path, FrameSource):
        return video_path
    if isinstance(video_path, (bytes, bytearray)):
        return VideoFileFrames(io.BytesIO(bytes(video_path)), image_size, cache_frames=cache_frames)
    if not isinstance(video_path, (str, os.PathLike)):
        raise InputError(f"video_path must be a folder of frames, a video file path or video bytes, got "
                         f"{type(video_path).__name__}")
    path = os.fspath(video_path)
    if os.path.isdir(path):
        return FolderFrames(path, image_size, cache_frames=cache_frames)
    if not os.path.exists(path):
        raise InputError(f"video not found: {path}")
    if os.path.splitext(path)[1].lower() in VIDEO_FILE_SUFFIXES:
        return VideoFileFrames(path, image_size, cache_frames=cache_frames)
    raise InputError(f"{path}: not a folder of frames or a video file (expected a folder of JPEG/PNG frames or "
                     f"one of {', '.join(VIDEO_FILE_SUFFIXES)})")
