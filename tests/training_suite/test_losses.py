"""Losses against values computed by hand."""

import math

import pytest
import torch

from samkit.training.losses import LossConfig, dice_loss, mask_iou, sam_loss, sigmoid_focal_loss

# Two pixels: logit 0 (p = 0.5) on a foreground pixel, logit ln 3 (p = 0.75) on a background pixel.
LOGITS = torch.tensor([[[0.0, math.log(3.0)]]])
TARGET = torch.tensor([[[True, False]]])


def test_focal_loss_by_hand():
    # fg pixel: alpha 0.25 * (1 - 0.5)^2 * ln 2;  bg pixel: 0.75 * (1 - 0.25)^2 * ln 4
    expected = (0.25 * 0.25 * math.log(2) + 0.75 * 0.5625 * math.log(4)) / 2
    assert sigmoid_focal_loss(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)
    assert sigmoid_focal_loss(LOGITS, TARGET, alpha=-1, gamma=0).item() == pytest.approx(
        (math.log(2) + math.log(4)) / 2, rel=1e-6)  # plain BCE


def test_dice_loss_by_hand():
    # 1 - (2 * 0.5 + 1) / (0.5 + 0.75 + 1 + 1)
    assert dice_loss(LOGITS, TARGET).item() == pytest.approx(1 - 2 / 3.25, rel=1e-6)


def test_mask_iou_by_hand():
    a = torch.tensor([[True, True, False, False]])
    b = torch.tensor([[True, False, True, False]])
    assert mask_iou(a[None], b[None]).item() == pytest.approx(1 / 3)
    assert mask_iou(torch.zeros(1, 2, 2, dtype=torch.bool), torch.zeros(1, 2, 2, dtype=torch.bool)).item() == 1.0


def test_sam_loss_weights_20_to_1_and_iou_mse():
    logits = LOGITS[:, None]  # M=1, K=1
    iou_pred = torch.tensor([[0.4]])
    out = sam_loss(logits, iou_pred, TARGET)
    focal = (0.25 * 0.25 * math.log(2) + 0.75 * 0.5625 * math.log(4)) / 2
    dice = 1 - 2 / 3.25
    actual_iou = 0.0  # binarised prediction [False, True] vs target [True, False]
    assert out.total.item() == pytest.approx(20 * focal + dice + (0.4 - actual_iou) ** 2, rel=1e-6)
    custom = sam_loss(logits, iou_pred, TARGET, LossConfig(focal_weight=1, dice_weight=0, iou_weight=0))
    assert custom.total.item() == pytest.approx(focal, rel=1e-6)


def test_only_the_lowest_loss_output_gets_mask_gradients():
    target = torch.zeros(1, 4, 4, dtype=torch.bool)
    target[0, :2] = True
    good = torch.where(target[0], 5.0, -5.0)
    logits = torch.stack([-good, good, torch.zeros(4, 4)])[None].clone().requires_grad_(True)  # 1 x 3 x 4 x 4
    iou_pred = torch.tensor([[0.1, 0.9, 0.5]], requires_grad=True)
    out = sam_loss(logits, iou_pred, target)
    assert out.chosen.tolist() == [1]
    assert out.actual_iou.tolist() == [[0.0, 1.0, 0.0]]  # logit 0 is not > 0: output 2 is empty
    out.total.backward()
    assert logits.grad[0, 0].abs().sum() == 0 and logits.grad[0, 2].abs().sum() == 0
    assert logits.grad[0, 1].abs().sum() > 0
    # The IoU head learns every output: d/dpred of mean((pred - iou)^2) = 2 (pred - iou) / K
    expected = [2 * (0.1 - 0.0) / 3, 2 * (0.9 - 1.0) / 3, 2 * (0.5 - 0.0) / 3]
    assert iou_pred.grad[0].tolist() == pytest.approx(expected, rel=1e-5)
