"""A video file (MP4, MOV, AVI, WebM, MKV) as a frame source, decoded with PyAV as frames are asked for.

Opening the file reads only its packet index (no decoding) to count the frames and find the key
frames. Reading frame i decodes forward from where the decoder stands when i is a little ahead of
it (the usual case: propagation walks forward), else seeks to the key frame before i and decodes
from there. Frames decoded on the way to i are kept (resized, uint8) in the source's small LRU
cache, so walking backwards (reverse propagation) decodes each group of pictures about once per
`cache_frames` frames rather than once per frame.

Frames are resized with PIL as the JPEG folders are, so an MP4 and the folder of its frames give
the same input. The reference decodes MP4s with decord, which resizes differently.
"""

from __future__ import annotations

import bisect
import os

import numpy as np

from samkit.errors import InputError
from samkit.video.frame_source import FrameSource

# Decode forward instead of seeking when the wanted frame is at most this far ahead.
_MAX_DECODE_AHEAD = 64


def _import_av():
    try:
        import av
    except ImportError:
        raise InputError("reading video files needs PyAV: pip install 'samkit[video]' (or pip install av), "
                         "or pass a folder of JPEG frames") from None
    return av


class VideoFileFrames(FrameSource):
    """Frames of the first video stream of a file (path or binary file object)."""

    def __init__(self, file, image_size: int, cache_frames: int = 8) -> None:
        super().__init__(image_size, cache_frames)
        self._av = _import_av()
        self.name = os.fspath(file) if isinstance(file, (str, os.PathLike)) else "<video bytes>"
        self._file = file
        self._container = None
        self._decoder = None  # generator of decoded frames
        self._next_index = None  # frame index the decoder gives next (None: unknown)
        self._index_packets()
        first = self._decode_to(0, keep=True)
        self.video_height, self.video_width = first.height, first.width

    # -- the packet index ---------------------------------------------------------------------------

    def _open(self):
        if hasattr(self._file, "seek"):
            self._file.seek(0)
        try:
            container = self._av.open(self._file, mode="r")
        except Exception as e:  # av.error.* for broken or unknown files
            raise InputError(f"cannot open video {self.name}: {e}") from None
        if not container.streams.video:
            container.close()
            raise InputError(f"{self.name} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container, stream

    def _index_packets(self) -> None:
        """Presentation timestamps of all frames (sorted) and of the key frames, from the packets."""
        container, stream = self._open()
        pts, key_pts = [], []
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                pts.append(int(packet.pts))
                if packet.is_keyframe:
                    key_pts.append(int(packet.pts))
        except Exception as e:
            raise InputError(f"cannot read video {self.name}: {e}") from None
        finally:
            container.close()
        if not pts:
            raise InputError(f"{self.name} has no video frames")
        self._pts = sorted(set(pts))
        self._pts_to_index = {p: i for i, p in enumerate(self._pts)}
        self._key_pts = sorted(set(key_pts)) or [self._pts[0]]
        self.num_frames = len(self._pts)

    # -- decoding -----------------------------------------------------------------------------------

    def _restart_at(self, index: int) -> None:
        """Position the decoder at the key frame at or before frame `index`."""
        if self._container is None:
            self._container, self._stream = self._open()
        target = self._pts[index]
        key = self._key_pts[max(0, bisect.bisect_right(self._key_pts, target) - 1)]
        try:
            self._container.seek(key, stream=self._stream, backward=True, any_frame=False)
        except Exception as e:
            raise InputError(f"cannot seek in video {self.name}: {e}") from None
        self._decoder = self._container.decode(self._stream)
        self._next_index = None

    def _decode_to(self, index: int, keep: bool = False):
        """Decode until frame `index`; cache the resized frames met on the way. Returns the av frame
        when keep (to read its original size), else None."""
        ahead = self._next_index is not None and 0 <= index - self._next_index <= _MAX_DECODE_AHEAD
        if self._decoder is None or not ahead:
            self._restart_at(index)
        try:
            for frame in self._decoder:
                i = self._frame_index(frame)
                if i is None:
                    continue
                self._next_index = i + 1
                if i >= index - self.cache_frames + 1:
                    self._remember(i, self._resize(frame.to_image()))
                if i >= index:
                    if i > index:  # frame `index` was never produced: a broken or odd file
                        break
                    return frame if keep else None
        except Exception as e:
            if isinstance(e, InputError):
                raise
            raise InputError(f"cannot decode frame {index} of {self.name}: {e}") from None
        self._decoder = None
        raise InputError(f"cannot decode frame {index} of {self.name} (the file may be truncated or broken)")

    def _frame_index(self, frame) -> int | None:
        if frame.pts is None:
            return None
        return self._pts_to_index.get(int(frame.pts))

    def _read(self, index: int) -> np.ndarray:
        self._decode_to(index)
        frame = self._cache.get(index)
        if frame is None:  # cache_frames smaller than needed: cannot happen, the wanted frame is always kept
            raise InputError(f"cannot decode frame {index} of {self.name}")
        return frame

    def original_frame(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        self._next_index = None  # force a seek: decoding on would skip frames already cached
        return self._decode_to(index, keep=True).to_ndarray(format="rgb24")

    def close(self) -> None:
        super().close()
        if self._container is not None:
            self._container.close()
        self._container, self._decoder, self._next_index = None, None, None
