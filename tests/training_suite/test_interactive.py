"""The interactive step wires the rules together: rounds, multimask, mask feedback, point growth."""

import torch

from samkit.build import build_sam
from samkit.training.interactive import InteractiveSamStep
from samkit.training.prompts import PromptSimConfig


class Spy:
    """Records what the prompt encoder gets and what the decoder returns, round by round."""

    def __init__(self, sam):
        self.calls = []
        pe_forward, dec_forward = sam.prompt_encoder.forward, sam.mask_decoder.forward

        def pe(points=None, boxes=None, masks=None):
            self.calls.append({"points": None if points is None else (points[0].clone(), points[1].clone()),
                               "boxes": boxes, "masks": None if masks is None else masks.clone()})
            return pe_forward(points=points, boxes=boxes, masks=masks)

        def dec(**kw):
            logits, iou = dec_forward(**kw)
            self.calls[-1].update(multimask=kw["multimask_output"], logits=logits.detach().clone(), iou=iou.detach().clone())
            return logits, iou

        sam.prompt_encoder.forward = pe
        sam.mask_decoder.forward = dec


def _batch():
    masks = torch.zeros(3, 256, 256, dtype=torch.bool)
    masks[0, 20:80, 30:120] = True
    masks[1, 100:200, 100:140] = True
    masks[2, 150:250, 10:60] = True
    images = torch.randn(2, 3, 256, 256)
    return images, masks, torch.tensor([0, 1, 1]), torch.tensor([[256, 256], [256, 256]])


def _run(box_prob, seed=0):
    torch.manual_seed(0)
    sam = build_sam("tiny").train()
    spy = Spy(sam)
    step = InteractiveSamStep(sam, PromptSimConfig(box_prob=box_prob))
    loss, logs = step(*_batch(), seed=seed)
    loss.backward()
    return spy.calls, loss, logs, sam


def test_point_first_rounds_multimask_feedback_and_point_growth():
    calls, loss, logs, sam = _run(box_prob=0.0)
    assert len(calls) == 11 and len(logs["round_iou"]) == 11
    assert [c["multimask"] for c in calls] == [True] + [False] * 10  # only the lone first point
    assert calls[0]["logits"].shape[1] == 3 and calls[1]["logits"].shape[1] == 1
    assert calls[0]["masks"] is None and calls[0]["boxes"] is None
    n_points = [c["points"][0].shape[1] for c in calls]
    assert n_points[0] == 1 and n_points[-1] == n_points[-2] == 9  # 1 + 8 points; the last round adds none
    assert sorted(set(n_points)) == list(range(1, 10)) and len(n_points) - len(set(n_points)) == 2
    for prev, cur in zip(calls, calls[1:]):
        # the mask prompt is the previous round's unthresholded logits of its highest-predicted-IoU output
        best = prev["iou"].argmax(dim=1)
        expected = prev["logits"][torch.arange(3), best][:, None]
        assert torch.equal(cur["masks"], expected)
        # earlier points are kept; a mask-only round repeats them exactly
        k = prev["points"][0].shape[1]
        assert torch.equal(cur["points"][0][:, :k], prev["points"][0])
    first_pts = calls[0]["points"][0][:, 0].long()
    masks = _batch()[1]
    assert all(masks[i, y, x] for i, (x, y) in enumerate(first_pts.tolist()))  # first point is foreground
    assert torch.isfinite(loss) and all(p.grad is not None for p in sam.mask_decoder.parameters() if p.requires_grad)


def test_box_first_rounds_keep_the_box_and_never_use_multimask():
    calls, _, _, _ = _run(box_prob=1.0)
    assert len(calls) == 11 and not any(c["multimask"] for c in calls)
    assert calls[0]["points"] is None and calls[0]["boxes"].shape == (3, 4)
    assert all(torch.equal(c["boxes"], calls[0]["boxes"]) for c in calls)
    assert calls[-1]["points"][0].shape[1] == 8


def test_mixed_batch_splits_into_point_and_box_groups():
    for seed in range(20):  # find a step where both kinds of first prompt occur
        calls, loss, logs, _ = _run(box_prob=0.5, seed=seed)
        if len(calls) == 22:
            break
    assert len(calls) == 22  # both groups ran their 11 rounds
    point_group = [c for c in calls if c["boxes"] is None]
    box_group = [c for c in calls if c["boxes"] is not None]
    assert len(point_group) == len(box_group) == 11
    assert point_group[0]["logits"].shape[0] + box_group[0]["logits"].shape[0] == 3
    assert logs["num_masks"] == 3 and torch.isfinite(loss)
