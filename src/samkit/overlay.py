"""Pictures people look at: masks drawn over the image, with the prompts that made them."""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw


def palette(n: int, seed: int = 0) -> np.ndarray:
    """n distinct, saturated RGB colours (golden-ratio hue walk): n x 3 uint8."""
    hues = (seed * 0.13 + np.arange(n) * 0.618033988749895) % 1.0
    return np.array([[int(255 * c) for c in colorsys.hsv_to_rgb(h, 0.85, 0.95)] for h in hues], dtype=np.uint8)


def _edges(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean mask (inside pixels with an outside 4-neighbour)."""
    pad = np.pad(mask, 1)
    inner = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return mask & ~inner


def draw_overlay(image: np.ndarray, masks: np.ndarray | list, alpha: float = 0.45,
                 points_xy: np.ndarray | None = None, point_labels: np.ndarray | None = None,
                 boxes_xyxy: np.ndarray | None = None, colors: np.ndarray | None = None,
                 sort_by_area: bool = True) -> np.ndarray:
    """Blend K boolean H x W masks onto an H x W x 3 uint8 image; outline each; draw prompts.

    Larger masks are drawn first so small objects stay visible on top. Foreground points are green
    dots, background points red, boxes yellow rectangles (original-image pixels).
    """
    out = image.astype(np.float32).copy()
    masks = [np.asarray(m, dtype=bool) for m in masks]
    colors = palette(len(masks)) if colors is None else np.asarray(colors, dtype=np.uint8)
    order = sorted(range(len(masks)), key=lambda i: -masks[i].sum()) if sort_by_area else range(len(masks))
    for i in order:
        m = masks[i]
        out[m] = out[m] * (1 - alpha) + colors[i].astype(np.float32) * alpha
        out[_edges(m)] = colors[i]
    pic = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pic)
    r = max(3, round(max(image.shape[:2]) / 120))
    if boxes_xyxy is not None:
        for x0, y0, x1, y1 in np.asarray(boxes_xyxy, dtype=float).reshape(-1, 4):
            draw.rectangle([x0, y0, x1, y1], outline=(255, 220, 0), width=max(2, r // 2))
    if points_xy is not None:
        labels = np.ones(len(points_xy), int) if point_labels is None else np.asarray(point_labels)
        for (x, y), lab in zip(np.asarray(points_xy, dtype=float).reshape(-1, 2), labels):
            fill = (40, 220, 60) if lab == 1 else (235, 40, 40)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=(255, 255, 255), width=max(1, r // 3))
    return np.asarray(pic)
