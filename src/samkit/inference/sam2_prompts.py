"""Validation of SAM2ImagePredictor prompts, with errors that say what was wrong.

SAM 2's predict() takes one prompt (points N x 2, a box (4,), a mask 1 x h x w) or a batch of B
prompts on one image (points B x N x 2, boxes B x 4, masks B x 1 x h x w); coordinates are
original-image pixels, or normalized to [0, 1] when normalize_coords=False.
"""

from __future__ import annotations

import numpy as np

from samkit.errors import InputError
from samkit.inference.prompts import check_boxes, check_mask_input, check_points


def check_sam2_prompts(point_coords, point_labels, box, mask_input, orig_hw: tuple[int, int],
                       low_res_hw: tuple[int, int], normalize_coords: bool = True):
    """Return (coords [B x] N x 2 float64, labels [B x] N int64, boxes B x 4 float64, masks [B x] 1 x h x w
    float32), each None when absent, in the caller's batching; or raise InputError."""
    frame = tuple(orig_hw) if normalize_coords else (1, 1)
    try:
        coords = labels = boxes = None
        if point_coords is not None or point_labels is not None:
            ndim = np.ndim(point_coords) if point_coords is not None else 2
            coords, labels = check_points(point_coords, point_labels, frame, batched=ndim == 3)
        if box is not None:
            boxes = check_boxes(box, frame, batched=np.ndim(box) == 2)
    except InputError as e:
        if normalize_coords:
            raise
        raise InputError(f"{e}; with normalize_coords=False coordinates are fractions of the image "
                         f"width/height in [0, 1]") from None
    b_points = None if coords is None else (coords.shape[0] if coords.ndim == 3 else 1)
    b_boxes = None if boxes is None else boxes.shape[0]
    if b_points is not None and b_boxes is not None and b_points != b_boxes:
        raise InputError(f"point_coords hold {b_points} prompt(s) but box holds {b_boxes}; give one box per "
                         f"point set (B x N x 2 points with B x 4 boxes)")
    batch = b_points or b_boxes or 1
    masks = None
    if mask_input is not None:
        if np.ndim(mask_input) == 4:
            masks = check_mask_input(mask_input, low_res_hw, batch=np.shape(mask_input)[0])
            if masks.shape[0] not in (1, batch):
                raise InputError(f"mask_input holds {masks.shape[0]} masks for {batch} prompts")
        else:
            masks = check_mask_input(mask_input, low_res_hw)
    return coords, labels, boxes, masks
