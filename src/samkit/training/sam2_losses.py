"""SAM 2's training losses (the reference's `MultiStepMultiMasksAndIous`): per frame and per
prediction step, focal 20 : dice 1 : IoU (L1) 1 : object score (BCE) 1, the mask terms taken from
the lowest-loss output of a multi-mask step, and no mask / IoU loss where the object is absent.

Shapes: per step, logits N x K x H x W (K = 1 or 3 outputs), ious N x K, object score logits N x 1;
target N x H x W bool on the same grid. Losses are summed over objects and divided by the number of
objects (so a sum over frames and steps, as the reference does: every frame and every corrective
click counts once).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from samkit.training.losses import LossConfig, dice_loss, mask_iou, sigmoid_focal_loss


@dataclass(frozen=True)
class Sam2LossConfig:
    """The SAM 2-only loss settings; focal / dice / IoU weights and focal alpha/gamma come from
    the shared LossConfig (20 / 1 / 1, 0.25 / 2 for both families)."""

    object_score_weight: float = 1.0
    iou_l1: bool = True  # SAM 2: L1 between predicted and actual IoU (SAM 1: MSE)
    supervise_all_iou: bool = True  # every output's IoU prediction gets a target


def object_score_loss(object_score_logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Per-object BCE of the 'object is present' logit: N x 1 logits, N bool -> N.
    (The reference's sigmoid focal loss with gamma 0 and alpha -1, i.e. plain BCE.)"""
    return F.binary_cross_entropy_with_logits(object_score_logits.float()[:, 0], present.float(), reduction="none")


def step_losses(logits: torch.Tensor, ious: torch.Tensor, object_score_logits: torch.Tensor, target: torch.Tensor,
                loss_cfg: LossConfig, cfg: Sam2LossConfig) -> dict[str, torch.Tensor]:
    """Per-object loss terms of one prediction step: {"focal", "dice", "iou", "object_score"}, each N,
    unweighted; "chosen" (N) is the output that got the mask gradient."""
    t = target[:, None].expand_as(logits)
    focal = sigmoid_focal_loss(logits.float(), t, loss_cfg.focal_alpha, loss_cfg.focal_gamma)  # N x K
    dice = dice_loss(logits.float(), t)
    with torch.no_grad():
        actual_iou = mask_iou(logits > 0, t)
    iou_err = (ious.float() - actual_iou).abs() if cfg.iou_l1 else (ious.float() - actual_iou) ** 2
    chosen = (loss_cfg.focal_weight * focal + loss_cfg.dice_weight * dice).detach().argmin(dim=1)
    rows = torch.arange(len(chosen), device=logits.device)
    present = target.flatten(1).any(dim=1)
    keep = present.float()  # mask and IoU terms only where the object is there
    iou_term = iou_err.mean(dim=1) if cfg.supervise_all_iou else iou_err[rows, chosen]
    return {"focal": focal[rows, chosen] * keep, "dice": dice[rows, chosen] * keep, "iou": iou_term * keep,
            "object_score": object_score_loss(object_score_logits, present), "chosen": chosen}


def clip_loss(frame_steps: list[list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]], targets: list[torch.Tensor],
              loss_cfg: LossConfig, cfg: Sam2LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one clip batch.

    frame_steps[t]: the prediction steps of frame t, each (logits N x K x H x W, ious N x K,
    object_score_logits N x 1); targets[t]: N x H x W bool. Returns (total, logs): total = sum over
    frames and steps of (20 focal + dice + IoU + object score) summed over objects / N; logs hold the
    weighted-sum terms as floats.
    """
    num_objects = max(int(targets[0].shape[0]), 1)
    sums = {"focal": 0.0, "dice": 0.0, "iou": 0.0, "object_score": 0.0}
    total = None
    for steps, target in zip(frame_steps, targets):
        for logits, ious, obj in steps:
            terms = step_losses(logits, ious, obj, target, loss_cfg, cfg)
            loss = (loss_cfg.focal_weight * terms["focal"] + loss_cfg.dice_weight * terms["dice"]
                    + loss_cfg.iou_weight * terms["iou"] + cfg.object_score_weight * terms["object_score"]).sum()
            total = loss if total is None else total + loss
            for k in sums:
                sums[k] += float(terms[k].detach().sum())
    total = total / num_objects
    return total, {k: v / num_objects for k, v in sums.items()}
