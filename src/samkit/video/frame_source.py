"""Video frames as the SAM 2 model sees them, read when asked for, never all at once.

A frame source is a sequence: `len(source)` frames, `source[i]` is frame i as a float32
3 x image_size x image_size tensor, resized (the aspect ratio is not kept, as in the reference) and
normalised with the ImageNet mean and std on [0, 1] pixels. `video_height` / `video_width` are the
original frame size in pixels. `open_frame_source` picks the kind from the path: a folder of
JPEG/PNG frames (frame_folder.py) or a video file decoded with PyAV (frame_stream.py).

Sources keep at most a few resized frames (uint8) in a small LRU cache, so memory does not grow
with the length of the video.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from samkit.errors import InputError

# The reference's load_video_frames defaults (ImageNet statistics on [0, 1] pixels).
IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)

VIDEO_FILE_SUFFIXES = (".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v")


class FrameSource:
    """Base of the frame sources: an LRU cache of resized uint8 frames and the normalisation.

    Subclasses set num_frames, video_height, video_width and implement _read(index) -> the frame
    resized to image_size x image_size as an H x W x 3 uint8 array.
    """

    num_frames: int
    video_height: int
    video_width: int

    def __init__(self, image_size: int, cache_frames: int = 4,
                 img_mean: tuple[float, ...] = IMG_MEAN, img_std: tuple[float, ...] = IMG_STD) -> None:
        self.image_size = int(image_size)
        self.cache_frames = max(1, int(cache_frames))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._mean = torch.tensor(img_mean, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(img_std, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> torch.Tensor:
        """Frame `index` (negative counts from the end): 3 x image_size x image_size float32, normalised."""
        index = self._check_index(index)
        return self._normalise(self.frame_uint8(index))

    def __iter__(self):
        for i in range(self.num_frames):
            yield self[i]

    def frame_uint8(self, index: int) -> np.ndarray:
        """Frame `index` resized to image_size x image_size: H x W x 3 uint8 (RGB)."""
        index = self._check_index(index)
        frame = self._cache.get(index)
        if frame is None:
            frame = self._read(index)
            self._remember(index, frame)
        else:
            self._cache.move_to_end(index)
        return frame

    def original_frame(self, index: int) -> np.ndarray:
        """Frame `index` at its original size: video_height x video_width x 3 uint8 (RGB)."""
        raise NotImplementedError

    @property
    def cached_frame_indices(self) -> list[int]:
        return list(self._cache)

    def close(self) -> None:
        self._cache.clear()

    def _remember(self, index: int, frame: np.ndarray) -> None:
        self._cache[index] = frame
        self._cache.move_to_end(index)
        while len(self._cache) > self.cache_frames:
            self._cache.popitem(last=False)

    def _normalise(self, frame: np.ndarray) -> torch.Tensor:
        # As the reference: uint8 / 255 in float64, stored as float32, then normalised in float32.
        img = torch.from_numpy((frame / 255.0).astype(np.float32)).permute(2, 0, 1)
        return (img - self._mean) / self._std

    def _check_index(self, index) -> int:
        try:
            i = int(index)
        except (TypeError, ValueError):
            raise InputError(f"frame index must be an integer, got {index!r}") from None
        if i < 0:
            i += self.num_frames
        if not 0 <= i < self.num_frames:
            raise InputError(f"frame index {index} is outside the video (it has {self.num_frames} frames, "
                             f"0..{self.num_frames - 1})")
        return i

    def _resize(self, pil_image) -> np.ndarray:
        """PIL RGB image -> image_size x image_size x 3 uint8, resized as the reference resizes
        (PIL's default filter, bicubic)."""
        return np.array(pil_image.convert("RGB").resize((self.image_size, self.image_size)))
