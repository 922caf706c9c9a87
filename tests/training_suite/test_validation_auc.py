"""The validator's threshold-free first-click AUC: hand-checked values, and a run's records carry it."""

import math

import torch

from samkit.training.validation import ranking_auc


def test_ranking_auc_by_hand():
    t = torch.tensor([[[True, False, False, True]]]).reshape(1, 2, 2)
    perfect = torch.tensor([[[5.0, -1.0], [-2.0, 3.0]]])
    assert ranking_auc(perfect, t).item() == 1.0
    assert ranking_auc(-perfect, t).item() == 0.0
    # Object pixels 5 and -2, the rest -1 and 3: (5, -1) and (5, 3) are ordered right, 2 of 4 pairs.
    assert ranking_auc(torch.tensor([[[5.0, -1.0], [3.0, -2.0]]]), t).item() == 0.5
    # Object pixels 5 and 0, the rest -1 and 3: 3 of 4.
    assert ranking_auc(torch.tensor([[[5.0, -1.0], [3.0, 0.0]]]), t).item() == 0.75
    # Object pixels 0.1 and 0.4, the rest 0.2 and 0.3: 2 of the 4 pairs are ordered right.
    assert ranking_auc(torch.tensor([[[0.1, 0.2], [0.3, 0.4]]]), t).item() == 0.5


def test_all_negative_logits_still_rank():
    """The plateau case: every logit below 0 (an empty thresholded mask, IoU 0) can still rank the
    object first, and the AUC says so."""
    t = torch.zeros(1, 8, 8, dtype=torch.bool)
    t[0, 2:5, 2:5] = True
    logits = torch.where(t, torch.tensor(-1.0), torch.tensor(-3.0))
    assert (logits < 0).all() and ranking_auc(logits, t).item() == 1.0


def test_valid_region_and_degenerate_masks():
    t = torch.zeros(2, 4, 4, dtype=torch.bool)
    t[0, 0, 0] = True
    scores = torch.zeros(2, 4, 4)
    scores[0, 0, 0], scores[0, 3, 3] = 1.0, 9.0  # the high-scoring pixel lies outside `valid`
    valid = torch.ones_like(t)
    valid[:, 3, :] = False
    auc = ranking_auc(scores, t, valid)
    assert auc[0].item() == 1.0 and math.isnan(auc[1].item())  # no object pixel in mask 1
