"""Prompt simulation of SAM's interactive training (paper section 3 / appendix A), rule by rule.

Frames: points and boxes are (x, y) in the model-input frame (img_size pixels, integer = pixel
centre, as `SamPredictor.predict_torch` takes them). Low-res grids (the decoder's 4h x 4w logits)
cover the same frame with cells of `img_size / low_res` pixels.

Rules implemented here (each has a unit test in tests/training_suite/test_prompts.py):
1. The first prompt is, with equal probability, a foreground point sampled uniformly inside the
   GT mask, or the GT box with noise (std 10% of the box side, clipped to 20 px in a 1024 input).
2. Each following point is sampled uniformly from the error region between the previous prediction
   and the GT: a false-negative pixel becomes a foreground point (label 1), a false-positive pixel a
   background point (label 0). No error -> a padding point (label -1), i.e. no new information.
3. 8 rounds of sampled points, plus 2 rounds with no new point (only the mask prompt): one at a
   random position among the point rounds, one at the end: 11 rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FIRST, POINT, MASK_ONLY = "first", "point", "mask_only"


@dataclass(frozen=True)
class PromptSimConfig:
    num_point_rounds: int = 8
    num_mask_only_rounds: int = 2
    box_prob: float = 0.5
    box_noise_std_frac: float = 0.1
    box_noise_max_px: float = 20.0  # in a 1024-pixel input; scaled by img_size / 1024

    @property
    def num_rounds(self) -> int:
        return 1 + self.num_point_rounds + self.num_mask_only_rounds


def round_schedule(cfg: PromptSimConfig, generator: torch.Generator | None = None) -> list[str]:
    """["first", "point" x num_point_rounds, "mask_only" x num_mask_only_rounds] where the last
    mask-only round is at the end and the others are at random positions after the first round."""
    rounds = [FIRST] + [POINT] * cfg.num_point_rounds
    for _ in range(max(cfg.num_mask_only_rounds - 1, 0)):
        # Insert after round 1..len(rounds): a mask-only round needs a previous mask to refine.
        pos = 1 + int(torch.randint(len(rounds), (1,), generator=generator,
                                     device=generator.device if generator is not None else None))
        rounds.insert(pos, MASK_ONLY)
    if cfg.num_mask_only_rounds > 0:
        rounds.append(MASK_ONLY)
    return rounds


def sample_uniform_pixels(region: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One pixel per mask, uniformly among the True pixels of region (M x H x W bool).

    Returns (rows_cols M x 2 long, found M bool); rows of masks without a True pixel are 0.
    Uniform because the argmax of i.i.d. uniform scores over the allowed pixels is uniform.
    """
    m, h, w = region.shape
    scores = torch.rand((m, h * w), generator=generator, device=region.device)
    scores = scores.masked_fill(~region.reshape(m, -1), -1.0)
    flat = scores.argmax(dim=1)
    found = region.reshape(m, -1).any(dim=1)
    return torch.stack([flat // w, flat % w], dim=1), found


def first_points(gt_masks: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform foreground points. gt_masks: M x S x S bool (model-input frame).
    Returns points_xy M x 1 x 2 float (pixel centres) and labels M x 1 (all 1)."""
    rc, found = sample_uniform_pixels(gt_masks, generator)
    if not bool(found.all()):
        raise ValueError("first_points needs non-empty GT masks")
    points_xy = rc.flip(1).float().unsqueeze(1)
    return points_xy, torch.ones(len(gt_masks), 1, dtype=torch.long, device=gt_masks.device)


def mask_boxes_xyxy(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes (x0, y0, x1, y1), inclusive pixel indices, of M x H x W bool masks -> M x 4."""
    rows, cols = masks.any(dim=2), masks.any(dim=1)
    h, w = masks.shape[1:]
    ar_h = torch.arange(h, device=masks.device)
    ar_w = torch.arange(w, device=masks.device)
    y0 = torch.where(rows, ar_h, h).min(dim=1).values
    y1 = torch.where(rows, ar_h, -1).max(dim=1).values
    x0 = torch.where(cols, ar_w, w).min(dim=1).values
    x1 = torch.where(cols, ar_w, -1).max(dim=1).values
    return torch.stack([x0, y0, x1, y1], dim=1).float()


def noisy_boxes(gt_masks: torch.Tensor, valid_hw: torch.Tensor, cfg: PromptSimConfig, img_size: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """GT boxes with Gaussian noise on each coordinate: std = box_noise_std_frac x the box side
    (width for x, height for y), clipped to +-box_noise_max_px (scaled to this input size), then
    clipped to the valid image area. gt_masks: M x S x S; valid_hw: M x 2. Returns M x 4 xyxy."""
    boxes = mask_boxes_xyxy(gt_masks)
    sides = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], dim=1).clamp(min=1.0)
    std = cfg.box_noise_std_frac * sides.repeat(1, 2)  # (w, h, w, h)
    noise = torch.randn(boxes.shape, generator=generator, device=boxes.device) * std
    max_px = cfg.box_noise_max_px * img_size / 1024.0
    boxes = boxes + noise.clamp(-max_px, max_px)
    limit = (valid_hw.flip(1).float() - 1).repeat(1, 2).to(boxes.device)
    boxes = torch.minimum(boxes.clamp(min=0.0), limit)
    x0, x1 = torch.minimum(boxes[:, 0], boxes[:, 2]), torch.maximum(boxes[:, 0], boxes[:, 2])
    y0, y1 = torch.minimum(boxes[:, 1], boxes[:, 3]), torch.maximum(boxes[:, 1], boxes[:, 3])
    return torch.stack([x0, y0, x1, y1], dim=1)


def error_points(pred_masks: torch.Tensor, gt_masks: torch.Tensor, valid: torch.Tensor, img_size: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One corrective point per mask, uniform over the error region.

    pred_masks, gt_masks, valid: M x h x w bool on a grid covering the model-input frame (the
    low-res grid or the input itself); `valid` excludes padding. A false negative (gt & ~pred) gives
    label 1, a false positive (pred & ~gt) label 0, no error a padding point (label -1). The point is
    uniform inside its grid cell, so sampling is uniform over the error region in input pixels.
    Returns points_xy M x 1 x 2 (model-input frame) and labels M x 1.
    """
    fn = gt_masks & ~pred_masks & valid
    fp = pred_masks & ~gt_masks & valid
    rc, found = sample_uniform_pixels(fn | fp, generator)
    m, h, _ = gt_masks.shape
    idx = torch.arange(m, device=gt_masks.device)
    is_fn = fn[idx, rc[:, 0], rc[:, 1]]
    labels = torch.where(found, is_fn.long(), torch.full_like(is_fn, -1, dtype=torch.long))
    cell = img_size / h
    offset = torch.rand((m, 2), generator=generator, device=gt_masks.device)
    points_xy = (rc.flip(1).float() + offset) * cell - 0.5
    points_xy = torch.where(found[:, None], points_xy, torch.zeros_like(points_xy))
    return points_xy.unsqueeze(1), labels.unsqueeze(1)


def downsample_masks(masks: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """M x S x S bool -> M x h x w bool by area average >= 0.5 (a cell is in the mask when at
    least half its pixels are)."""
    if tuple(masks.shape[1:]) == tuple(out_hw):
        return masks
    x = torch.nn.functional.adaptive_avg_pool2d(masks[:, None].float(), out_hw)
    return x[:, 0] >= 0.5
