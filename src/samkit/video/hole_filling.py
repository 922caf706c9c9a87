"""Fill small holes in predicted masks: the video predictor's `fill_hole_area` post-processing.

A hole is an 8-connected component of background pixels (logit <= 0) with at most `max_area`
pixels, as the reference's CUDA connected-components kernel finds them; its pixels get the
logit 0.1 (just foreground). The reference skips this step with a warning when its CUDA extension
is missing (any CPU run); samkit does it with scipy when scipy is installed, else warns and skips.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

_warned = False


def fill_holes_in_mask_scores(mask_logits: torch.Tensor, max_area: int) -> torch.Tensor:
    """mask_logits: B x 1 x H x W -> the same with holes of <= max_area pixels set to 0.1."""
    global _warned
    if max_area <= 0:
        raise ValueError("max_area must be positive")
    try:
        from scipy import ndimage
    except ImportError:
        if not _warned:
            warnings.warn("fill_hole_area > 0 needs scipy (pip install scipy); masks are left unfilled",
                          UserWarning, stacklevel=2)
            _warned = True
        return mask_logits
    background = (mask_logits <= 0).cpu().numpy()
    is_hole = np.zeros_like(background)
    eight = np.ones((3, 3), dtype=bool)
    for b in range(background.shape[0]):
        labels, count = ndimage.label(background[b, 0], structure=eight)
        if count == 0:
            continue
        areas = np.bincount(labels.ravel())
        small = areas <= max_area
        small[0] = False  # label 0 is the foreground
        is_hole[b, 0] = small[labels]
    if not is_hole.any():
        return mask_logits
    return torch.where(torch.from_numpy(is_hole).to(mask_logits.device), 0.1, mask_logits)
