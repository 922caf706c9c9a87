import math

import numpy as np
import pytest

from samkit.evaluation.eval_samples import EvalObject
from samkit.evaluation.proposal_recall import ImageProposals, proposal_recall


def rect(y0, y1, x0, x1, hw=(100, 100)):
    m = np.zeros(hw, bool)
    m[y0:y1, x0:x1] = True
    return m


def obj(m, crowd=False):
    return EvalObject("o", float(m.sum()), crowd, lambda: m)


def test_hand_computed_average_recall():
    big, small = rect(0, 50, 0, 50), rect(60, 70, 60, 70)  # areas 2500 (medium) and 100 (small)
    p_big = rect(0, 50, 0, 40)  # IoU 0.8 with `big`: a hit at IoU 0.50..0.80 = 7 of 10 thresholds
    p_small = rect(60, 70, 60, 66)  # IoU 0.6 with `small`: hit at 0.50, 0.55, 0.60 = 3 of 10
    img = ImageProposals("a", (100, 100), [obj(big), obj(small)], [p_big, p_small, rect(90, 99, 0, 9)], [0.9, 0.3, 0.5])
    r = proposal_recall([img], max_proposals=[1, 2, 100])
    assert r["num_gt"] == {"all": 2, "small": 1, "medium": 1, "large": 0}
    assert r["AR@100"]["medium"] == pytest.approx(0.7) and r["AR@100"]["small"] == pytest.approx(0.3)
    assert r["AR@100"]["all"] == pytest.approx(0.5)
    assert r["R50@100"]["all"] == 1.0 and r["R75@100"]["all"] == 0.5
    # Top-1 holds only p_big; top-2 adds the 0.5-scored decoy, not p_small (score 0.3).
    assert r["AR@1"]["all"] == pytest.approx(0.35) and r["AR@2"]["all"] == pytest.approx(0.35)
    assert math.isnan(r["AR@100"]["large"])
    # Average best overlap: best IoU per GT among the top-K (0.8 and 0.6; top-1 misses `small`).
    assert r["ABO@100"]["all"] == pytest.approx(0.7) and r["ABO@1"]["small"] == 0.0
    assert r["ABO@1"]["medium"] == pytest.approx(0.8)


def test_one_proposal_cannot_recall_two_objects_and_crowds_are_ignored():
    a, b = rect(0, 20, 0, 20), rect(0, 20, 0, 21)  # nearly identical objects
    crowd = rect(50, 90, 50, 90)
    img = ImageProposals("a", (100, 100), [obj(a), obj(b), obj(crowd, crowd=True)], [a, crowd], [0.9, 0.8])
    r = proposal_recall([img], max_proposals=[100])
    assert r["num_gt"]["all"] == 2
    assert r["R50@100"]["all"] == pytest.approx(0.5)  # one-to-one matching; the crowd is not counted


def test_no_proposals_give_zero_recall_and_bad_input_raises():
    img = ImageProposals("a", (10, 10), [obj(rect(0, 5, 0, 5, (10, 10)))], [], [])
    assert proposal_recall([img], [100])["AR@100"]["all"] == 0.0
    with pytest.raises(ValueError, match="scores"):
        proposal_recall([ImageProposals("a", (10, 10), [], [np.zeros((10, 10), bool)], [])], [10])
    with pytest.raises(ValueError, match="image is"):
        proposal_recall([ImageProposals("a", (10, 10), [obj(rect(0, 5, 0, 5, (10, 10)))],
                                        [np.zeros((9, 10), bool)], [1.0])], [10])


def test_generator_records_as_binary_masks_or_coco_rle():
    from pycocotools import mask as mask_utils

    from samkit.evaluation.amg_protocol import proposals_from_records

    m = rect(10, 30, 20, 50)
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    masks, scores = proposals_from_records([{"segmentation": m, "predicted_iou": 0.7},
                                            {"segmentation": rle, "predicted_iou": 0.2}], (100, 100))
    assert scores == [0.7, 0.2] and all((x == m).all() for x in masks)
    with pytest.raises(ValueError, match="image is"):
        proposals_from_records([{"segmentation": m[:50], "predicted_iou": 0.1}], (100, 100))
