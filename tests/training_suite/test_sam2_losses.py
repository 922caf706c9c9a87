"""SAM 2's losses against values computed by hand (focal 20 : dice 1 : IoU L1 1 : object score BCE 1)."""

import math

import pytest
import torch

from samkit.training.losses import LossConfig
from samkit.training.sam2_losses import Sam2LossConfig, clip_loss, step_losses


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def focal_by_hand(logits, target, alpha=0.25, gamma=2.0) -> float:
    total = 0.0
    for x, t in zip(logits, target):
        p = sig(x)
        p_t = p if t else 1 - p
        alpha_t = alpha if t else 1 - alpha
        total += alpha_t * (1 - p_t) ** gamma * -math.log(p_t)
    return total / len(logits)


def dice_by_hand(logits, target) -> float:
    p = [sig(x) for x in logits]
    inter = sum(pi * t for pi, t in zip(p, target))
    return 1 - (2 * inter + 1) / (sum(p) + sum(target) + 1)


LOGITS = [2.0, -1.0, 0.0, 1.0]  # a 2 x 2 grid, row-major
TARGET = [1, 0, 0, 1]


def one_step(logits=LOGITS, target=TARGET, iou=0.5, obj=0.3):
    return (torch.tensor(logits).view(1, 1, 2, 2), torch.tensor([[iou]]), torch.tensor([[obj]])), \
        torch.tensor(target, dtype=torch.bool).view(1, 2, 2)


def test_one_step_matches_the_hand_computed_loss():
    step, target = one_step()
    total, logs = clip_loss([[step]], [target], LossConfig(), Sam2LossConfig())
    focal, dice = focal_by_hand(LOGITS, TARGET), dice_by_hand(LOGITS, TARGET)
    iou_l1 = abs(0.5 - 1.0)  # logits > 0 -> {(0,0), (1,1)} = the target: actual IoU 1
    bce = -math.log(sig(0.3))
    assert float(total) == pytest.approx(20 * focal + dice + iou_l1 + bce, rel=1e-5)
    assert logs["focal"] == pytest.approx(focal, rel=1e-5) and logs["dice"] == pytest.approx(dice, rel=1e-5)
    assert logs["iou"] == pytest.approx(iou_l1) and logs["object_score"] == pytest.approx(bce, rel=1e-5)


def test_an_absent_object_is_trained_only_to_say_so():
    step, target = one_step(target=[0, 0, 0, 0])
    total, logs = clip_loss([[step]], [target], LossConfig(), Sam2LossConfig())
    assert float(total) == pytest.approx(-math.log(1 - sig(0.3)), rel=1e-5)
    assert logs["focal"] == logs["dice"] == logs["iou"] == 0.0


def test_multimask_takes_the_lowest_mask_loss_and_supervises_every_iou():
    good, bad = LOGITS, [-3.0, 3.0, 3.0, -3.0]
    logits = torch.tensor([bad, good]).view(1, 2, 2, 2)
    ious = torch.tensor([[0.2, 0.9]])
    target = torch.tensor(TARGET, dtype=torch.bool).view(1, 2, 2)
    terms = step_losses(logits, ious, torch.tensor([[5.0]]), target, LossConfig(), Sam2LossConfig())
    assert int(terms["chosen"]) == 1
    assert float(terms["focal"]) == pytest.approx(focal_by_hand(good, TARGET), rel=1e-5)
    # actual IoUs: bad output -> 0, good -> 1; L1 errors 0.2 and 0.1, averaged over both outputs
    assert float(terms["iou"]) == pytest.approx((0.2 + 0.1) / 2, rel=1e-5)
    only_chosen = step_losses(logits, ious, torch.tensor([[5.0]]), target, LossConfig(),
                              Sam2LossConfig(supervise_all_iou=False))
    assert float(only_chosen["iou"]) == pytest.approx(0.1, rel=1e-5)


def test_frames_and_steps_add_up_and_objects_average():
    step, target = one_step()
    single, _ = clip_loss([[step]], [target], LossConfig(), Sam2LossConfig())
    two_frames_two_steps, _ = clip_loss([[step, step], [step]], [target, target], LossConfig(), Sam2LossConfig())
    assert float(two_frames_two_steps) == pytest.approx(3 * float(single), rel=1e-6)
    (logits, ious, obj), tgt = step, target
    doubled = (logits.repeat(2, 1, 1, 1), ious.repeat(2, 1), obj.repeat(2, 1))
    two_objects, _ = clip_loss([[doubled]], [tgt.repeat(2, 1, 1)], LossConfig(), Sam2LossConfig())
    assert float(two_objects) == pytest.approx(float(single), rel=1e-6)
