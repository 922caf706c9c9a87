import math

import numpy as np
import pytest

from samkit.evaluation.image_protocols import summarize_clicks
from samkit.evaluation.interactive import run_click_trajectory
from samkit.evaluation.report_tables import clicks_table
from samkit.evaluation.score_calibration import score_calibration


def test_calibration_numbers_by_hand():
    c = score_calibration([0.2, 0.4, 0.9], [0.1, 0.3, 0.8])
    assert c["pairs"] == 3 and c["pearson"] == pytest.approx(1.0)
    assert c["mean_gap"] == pytest.approx(0.1) and c["mean_actual"] == pytest.approx(0.4)
    anti = score_calibration([0.9, 0.1], [0.0, 1.0])
    assert anti["pearson"] == pytest.approx(-1.0)
    # A constant score (GrabCut) or no pairs has no correlation, not a made-up 0.
    assert math.isnan(score_calibration([1.0, 1.0, 1.0], [0.1, 0.5, 0.9])["pearson"])
    assert math.isnan(score_calibration([], [])["mean_gap"])
    with pytest.raises(ValueError, match="2 predicted IoUs but 1"):
        score_calibration([0.1, 0.2], [0.3])


class _ScoredPredictor:
    """First click: 3 masks (the GT's left half, the GT, an empty mask) scored 0.6 / 0.9 / 0.1;
    later clicks: the GT alone, scored 0.7."""

    def __init__(self, gt):
        half = gt.copy()
        half[:, gt.shape[1] // 2:] = False
        self.masks = np.stack([half, gt, np.zeros_like(gt)])

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None, multimask_output=True):
        logits = np.zeros((len(self.masks), 4, 4), np.float32)
        if multimask_output:
            return self.masks, np.array([0.6, 0.9, 0.1]), logits
        return self.masks[1:2], np.array([0.7]), logits[:1]


def test_trajectory_keeps_the_scores_the_calibration_needs():
    gt = np.zeros((20, 20), bool)
    gt[5:15, 4:16] = True
    traj = run_click_trajectory(_ScoredPredictor(gt), gt, max_clicks=3, stop_at_perfect=False)
    assert traj.first_click_scores == [0.6, 0.9, 0.1]
    assert traj.first_click_ious == pytest.approx([0.5, 1.0, 0.0])
    assert traj.scores == [0.9]  # perfect after one click: no further prediction was made
    records = [{"size": "small", "ious_score": traj.ious, "ious_oracle": traj.ious,
                "pred_ious_score": traj.scores, "first_click_pred_ious": traj.first_click_scores,
                "first_click_ious": traj.first_click_ious}]
    s = summarize_clicks(records, 3)["all"]
    assert s["calibration_first_click"]["pairs"] == 3
    assert s["calibration_first_click"]["pearson"] == pytest.approx(np.corrcoef([0.6, 0.9, 0.1], [0.5, 1, 0])[0, 1])
    assert s["calibration_chosen"]["mean_gap"] == pytest.approx(0.9 - 1.0)
    row = clicks_table({"m": summarize_clicks(records, 3)}).splitlines()
    assert row[0].endswith("pred-IoU r |") and row[2].endswith(f"{s['calibration_first_click']['pearson']:.2f} |")


def test_old_records_without_scores_still_summarise():
    s = summarize_clicks([{"size": "large", "ious_score": [0.5], "ious_oracle": [0.5]}], 1)["all"]
    assert s["calibration_first_click"]["pairs"] == 0 and math.isnan(s["calibration_chosen"]["pearson"])
