"""Mask <-> Label Studio polygons. Label Studio's PolygonLabels points are percentages of the image
(x of the width, y of the height), one closed outline per region, no holes: a mask becomes one
region per outer contour (OpenCV), each simplified to within `tolerance_px` of the mask's edge."""

from __future__ import annotations

import numpy as np


def _cv2():
    try:
        import cv2
    except ImportError:
        from samkit.errors import InputError

        raise InputError("PolygonLabels need OpenCV: pip install 'samkit[labelstudio]'") from None
    return cv2


def mask_to_polygons(mask_hw: np.ndarray, tolerance_px: float = 1.0, min_area_px: float = 4.0) -> list[list[list[float]]]:
    """H x W bool mask -> outlines [[[x%, y%], ...], ...], largest first; pieces under min_area_px dropped."""
    cv2 = _cv2()
    h, w = mask_hw.shape
    contours, _ = cv2.findContours(np.ascontiguousarray(mask_hw, dtype=np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted((c for c in contours if cv2.contourArea(c) >= min_area_px), key=cv2.contourArea, reverse=True)
    polygons = []
    for contour in contours:
        approx = cv2.approxPolyDP(contour, tolerance_px, True).reshape(-1, 2)
        if len(approx) < 3:
            continue
        # contour points are pixel indices; +0.5 puts the vertex on the pixel's centre in LS's frame
        polygons.append([[float((x + 0.5) / w * 100.0), float((y + 0.5) / h * 100.0)] for x, y in approx])
    return polygons


def polygon_to_mask(points_pct: list[list[float]], height: int, width: int) -> np.ndarray:
    """Label Studio polygon points (percent) -> H x W bool mask (filled)."""
    cv2 = _cv2()
    pts = np.asarray(points_pct, dtype=np.float64).reshape(-1, 2)
    pixels = np.round(pts / 100.0 * np.array([width, height]) - 0.5).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [pixels], 1)
    return mask.astype(bool)


def polygon_pixels_flat(points_pct: list[list[float]], height: int, width: int) -> list[float]:
    """Label Studio polygon points (percent) -> COCO's flat [x1, y1, x2, y2, ...] in pixels."""
    pts = np.asarray(points_pct, dtype=np.float64).reshape(-1, 2) / 100.0 * np.array([width, height])
    return [round(float(v), 2) for v in pts.ravel()]
