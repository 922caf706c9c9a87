"""Writing tracked masks: DAVIS-format indexed PNGs, an overlay video and a picture strip.

DAVIS format: one PNG per frame, palette mode ("P"), pixel value = object label (0 background,
1..255 objects), the DAVIS colour palette. Where objects overlap, the one with the highest logit
wins.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from samkit.errors import InputError


def davis_palette() -> list[int]:
    """The 256-colour palette of DAVIS annotations (PASCAL VOC's bit-interleaved colours), flat RGB."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def label_map(video_res_masks: torch.Tensor, labels: list[int]) -> np.ndarray:
    """N x 1 x H x W logits -> H x W uint8: labels[k] where object k has the highest positive logit, else 0."""
    if video_res_masks.shape[0] != len(labels):
        raise ValueError("one label per object")
    if any(not 1 <= lab <= 255 for lab in labels):
        raise InputError(f"DAVIS labels are 1..255, got {labels}")
    logits = video_res_masks[:, 0].float().cpu()
    best = logits.argmax(dim=0).numpy()
    positive = (logits.max(dim=0).values > 0).numpy()
    lut = np.asarray(labels, dtype=np.uint8)
    return np.where(positive, lut[best], 0).astype(np.uint8)


def write_davis_png(path: str | os.PathLike, labels_hw: np.ndarray) -> None:
    """Write an H x W uint8 label map as an indexed PNG (atomically: a crash leaves no half file)."""
    img = Image.fromarray(labels_hw, mode="P")
    img.putpalette(davis_palette())
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    img.save(tmp, format="PNG")
    tmp.replace(path)


def colour_overlay(frame_rgb: np.ndarray, labels_hw: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend label colours (DAVIS palette) onto an H x W x 3 uint8 frame."""
    pal = np.asarray(davis_palette(), dtype=np.float32).reshape(256, 3)
    out = frame_rgb.astype(np.float32)
    fg = labels_hw > 0
    out[fg] = out[fg] * (1 - alpha) + pal[labels_hw[fg]] * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


class OverlayVideoWriter:
    """Frames (H x W x 3 uint8) -> an H.264 MP4 with PyAV (even sizes, as yuv420p needs).

    Written to a temporary file beside `path` and renamed by close(), so `path` is never half a
    video; discard() (on an error) removes the temporary file instead."""

    def __init__(self, path: str | os.PathLike, fps: float = 24.0) -> None:
        try:
            import av
        except ImportError:
            raise InputError("writing the overlay video needs PyAV: pip install 'samkit[video]'") from None
        self._av = av
        self.path = Path(path)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self._container = av.open(str(self._tmp), mode="w", format=self.path.suffix.lstrip(".").lower() or "mp4")
        self._fps = max(1, round(fps))
        self._stream = None

    def write(self, frame_rgb: np.ndarray) -> None:
        h, w = frame_rgb.shape[:2]
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self._fps)
            self._stream.width, self._stream.height = w - w % 2, h - h % 2
            self._stream.pix_fmt = "yuv420p"
        frame = np.ascontiguousarray(frame_rgb[: self._stream.height, : self._stream.width])
        for packet in self._stream.encode(self._av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        try:
            self._container.close()
        finally:
            self._tmp.unlink(missing_ok=True)


def picture_strip(frames: list[np.ndarray], height: int = 160, gap: int = 4) -> np.ndarray:
    """Frames side by side, each scaled to `height` pixels high, on a white background."""
    scaled = [np.asarray(Image.fromarray(f).resize((max(1, round(f.shape[1] * height / f.shape[0])), height)))
              for f in frames]
    width = sum(s.shape[1] for s in scaled) + gap * (len(scaled) - 1)
    strip = np.full((height, max(1, width), 3), 255, dtype=np.uint8)
    x = 0
    for s in scaled:
        strip[:, x : x + s.shape[1]] = s
        x += s.shape[1] + gap
    return strip
