"""Pictures of generated masks: a colour overlay with outlines, and an instance-label map.

Unlike samkit.overlay.draw_overlay (which takes every mask as an array), these decode one RLE at a
time, so hundreds of masks on a 12-megapixel photo never sit in memory together.
"""

from __future__ import annotations

import numpy as np

from samkit.automatic.records import MaskRecord
from samkit.overlay import palette


def _draw_order(records: list[MaskRecord]) -> list[int]:
    """Largest first, so small masks stay visible on top of the ones that contain them."""
    return sorted(range(len(records)), key=lambda i: -records[i].area)


def label_map(records: list[MaskRecord], hw: tuple[int, int]) -> np.ndarray:
    """H x W uint16: 0 background, i+1 where record i is on top (smaller masks drawn last)."""
    if len(records) >= 65535:
        raise ValueError(f"{len(records)} masks do not fit a 16-bit label map")
    labels = np.zeros(hw, dtype=np.uint16)
    for i in _draw_order(records):
        labels[records[i].mask()] = i + 1
    return labels


def overlay(image_rgb: np.ndarray, records: list[MaskRecord], alpha: float = 0.5) -> np.ndarray:
    """H x W x 3 uint8: the image with every mask tinted in its own colour and outlined."""
    out = image_rgb.astype(np.float32).copy()
    colors = palette(len(records)).astype(np.float32)
    edges = np.zeros(image_rgb.shape[:2], dtype=bool)
    for i in _draw_order(records):
        m = records[i].mask()
        out[m] = (1 - alpha) * out[m] + alpha * colors[i]
        inner = m.copy()
        inner[1:, :] &= m[:-1, :]
        inner[:-1, :] &= m[1:, :]
        inner[:, 1:] &= m[:, :-1]
        inner[:, :-1] &= m[:, 1:]
        edges |= m & ~inner
    out[edges] = 255.0
    return out.clip(0, 255).astype(np.uint8)
