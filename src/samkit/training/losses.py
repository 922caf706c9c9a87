"""SAM's training losses: focal + dice on masks at 20 : 1, MSE between predicted and actual IoU,
and, with several mask outputs, gradients from the lowest-loss output only.

Shapes: logits M x K x H x W (K = 1 or 3 outputs per prompt), targets M x H x W bool (same grid),
iou_pred M x K. Per-mask losses are means over pixels (focal) or per mask (dice), so a loss does
not depend on the grid size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossConfig:
    focal_weight: float = 20.0
    dice_weight: float = 1.0
    iou_weight: float = 1.0
    focal_alpha: float = 0.25  # RetinaNet's defaults, which SAM's focal loss reference uses
    focal_gamma: float = 2.0


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Per-mask focal loss, mean over the last two dims: ... x H x W -> ...

    FL = -alpha_t (1 - p_t)^gamma log(p_t), p_t = p for target 1 else 1 - p; alpha_t = alpha for
    target 1 else 1 - alpha (alpha < 0 disables the weighting).
    """
    t = targets.to(logits.dtype)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss.mean(dim=(-2, -1))


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Per-mask soft dice loss: 1 - (2 sum(p t) + s) / (sum(p) + sum(t) + s), ... x H x W -> ..."""
    p = torch.sigmoid(logits)
    t = targets.to(p.dtype)
    inter = (p * t).sum(dim=(-2, -1))
    return 1 - (2 * inter + smooth) / (p.sum(dim=(-2, -1)) + t.sum(dim=(-2, -1)) + smooth)


def mask_iou(pred: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """IoU of binary masks ... x H x W -> ... (empty union -> 1: both empty agree)."""
    pred, targets = pred.bool(), targets.bool()
    inter = (pred & targets).sum(dim=(-2, -1)).float()
    union = (pred | targets).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


@dataclass
class LossOutput:
    """total: scalar to back-propagate; the rest are detached means for logging. chosen: M, the
    output index that got the mask gradient; actual_iou: M x K."""

    total: torch.Tensor
    focal: torch.Tensor
    dice: torch.Tensor
    iou_mse: torch.Tensor
    chosen: torch.Tensor
    actual_iou: torch.Tensor


def sam_loss(logits: torch.Tensor, iou_pred: torch.Tensor, targets: torch.Tensor, cfg: LossConfig = LossConfig()) -> LossOutput:
    """SAM loss for one round. logits M x K x H x W, iou_pred M x K, targets M x H x W bool.

    Mask loss per output = focal_weight * focal + dice_weight * dice; with K > 1 only the output with
    the lowest mask loss contributes (per prompt). The IoU head is trained on every output: MSE
    between iou_pred and the actual IoU of that output's binarised mask (logit > 0) with the target;
    every output's score is used to rank the K masks at inference, so each needs a target.
    """
    t = targets[:, None].expand_as(logits)
    focal = sigmoid_focal_loss(logits.float(), t, cfg.focal_alpha, cfg.focal_gamma)  # M x K
    dice = dice_loss(logits.float(), t)
    mask_loss = cfg.focal_weight * focal + cfg.dice_weight * dice
    chosen = mask_loss.detach().argmin(dim=1)
    rows = torch.arange(len(chosen), device=logits.device)
    with torch.no_grad():
        actual = mask_iou(logits > 0, t)
    iou_mse = F.mse_loss(iou_pred.float(), actual, reduction="none").mean(dim=1)
    total = (mask_loss[rows, chosen] + cfg.iou_weight * iou_mse).mean()
    return LossOutput(total, focal[rows, chosen].detach().mean(), dice[rows, chosen].detach().mean(),
                      iou_mse.detach().mean(), chosen, actual)
