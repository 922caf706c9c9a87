"""How well a model's predicted IoU tracks the real IoU of its masks.

SAM ranks its 3 masks, and the automatic mask generator keeps or drops proposals, by the predicted
IoU; both only work if the score tracks the real IoU. Two numbers say how well it does over pairs
(predicted IoU, IoU with the GT): the Pearson correlation (does a higher score mean a better
mask?) and the mean gap, predicted minus real (is the score on the right scale, so that fixed
thresholds such as AMG's 0.88 mean what they say?).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def score_calibration(predicted: Sequence[float], actual: Sequence[float]) -> dict:
    """{"pairs", "pearson", "mean_predicted", "mean_actual", "mean_gap"} of N (predicted, actual) pairs.

    pearson is NaN when either side is constant (a model without a quality estimate, such as
    GrabCut's constant score) or there are fewer than 2 pairs; every field is NaN without pairs.
    """
    pred = np.asarray(predicted, dtype=np.float64).ravel()
    real = np.asarray(actual, dtype=np.float64).ravel()
    if pred.shape != real.shape:
        raise ValueError(f"{pred.size} predicted IoUs but {real.size} actual IoUs")
    nan = float("nan")
    if pred.size == 0:
        return {"pairs": 0, "pearson": nan, "mean_predicted": nan, "mean_actual": nan, "mean_gap": nan}
    pearson = nan
    if pred.size >= 2 and pred.std() > 0 and real.std() > 0:
        pearson = float(np.corrcoef(pred, real)[0, 1])
    return {"pairs": int(pred.size), "pearson": pearson, "mean_predicted": float(pred.mean()),
            "mean_actual": float(real.mean()), "mean_gap": float(pred.mean() - real.mean())}
