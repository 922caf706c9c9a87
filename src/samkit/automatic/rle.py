"""Run-length encodings of binary masks, through pycocotools.

Two forms, both column-major (Fortran order) as COCO defines them:
- COCO RLE: {"size": [h, w], "counts": str} (compressed; what SA-1B and COCO results files hold);
- uncompressed RLE: {"size": [h, w], "counts": [int, ...]} alternating runs of 0s and 1s, starting
  with the number of leading 0s (segment_anything's "uncompressed_rle" output mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def encode_coco_rle(mask_hw: np.ndarray) -> dict[str, Any]:
    """H x W bool mask -> COCO RLE with a JSON-ready str 'counts'."""
    rle = mask_utils.encode(np.asfortranarray(mask_hw, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_coco_rle(rle: dict[str, Any]) -> np.ndarray:
    """COCO RLE (str or bytes counts) -> H x W bool mask."""
    counts = rle["counts"]
    obj = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(obj).astype(bool)


def coco_rle_area(rle: dict[str, Any]) -> int:
    counts = rle["counts"]
    obj = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return int(mask_utils.area(obj))


def mask_to_uncompressed_rle(mask_hw: np.ndarray) -> dict[str, Any]:
    """H x W bool mask -> uncompressed RLE (run lengths in column-major order, 0-runs first)."""
    h, w = mask_hw.shape
    flat = np.asarray(mask_hw, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [h * w]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [h, w], "counts": counts}


def uncompressed_rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Uncompressed RLE -> H x W bool mask."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    values = (np.arange(counts.size) % 2).astype(bool)
    return np.repeat(values, counts).reshape(w, h).T


def uncompressed_to_coco_rle(rle: dict[str, Any]) -> dict[str, Any]:
    """Uncompressed RLE -> COCO RLE (pycocotools compresses the counts)."""
    h, w = rle["size"]
    out = mask_utils.frPyObjects(rle, h, w)
    return {"size": [int(h), int(w)], "counts": out["counts"].decode("ascii")}
