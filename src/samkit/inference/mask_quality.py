"""Mask quality scores computed from logits."""

from __future__ import annotations

import torch


def stability_score(mask_logits: torch.Tensor, mask_threshold: float, threshold_offset: float) -> torch.Tensor:
    """IoU between the masks thresholded at (t + offset) and (t - offset). ... x H x W -> ...

    The high-threshold mask is a subset of the low one, so IoU = |high| / |low|. Counts are exact
    integers (int16 per row, int32 in total, as the reference does) so the score is bit-identical.
    """
    high = (mask_logits > (mask_threshold + threshold_offset)).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    low = (mask_logits > (mask_threshold - threshold_offset)).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32)
    return high / low
