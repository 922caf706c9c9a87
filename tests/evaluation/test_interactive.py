import numpy as np
import pytest

from samkit.evaluation.image_protocols import evaluate_boxes, evaluate_clicks, summarize_boxes, summarize_clicks
from samkit.evaluation.interactive import box_from_mask, noisy_box, run_box_prompt, run_click_trajectory
from samkit.evaluation.eval_samples import EvalImage, EvalObject


def _dataset(helpers, tmp_path):
    from PIL import Image

    masks = helpers.scene_masks()
    img = helpers.scene_image(masks)
    path = tmp_path / "scene.png"
    Image.fromarray(img).save(path)
    objs = tuple(EvalObject(str(i), float(m.sum()), False, (lambda m=m: m)) for i, m in enumerate(masks))
    return img, masks, [EvalImage("scene", path, masks[0].shape, objs)]


def test_perfect_predictor_needs_one_click_and_scores_iou_1(helpers, tmp_path):
    img, masks, data = _dataset(helpers, tmp_path)
    pred = helpers.OraclePredictor({img.tobytes(): masks})
    recs = evaluate_clicks(pred, data, max_clicks=20)
    assert len(recs) == 3
    assert all(r["ious_score"] == [1.0] for r in recs)
    s = summarize_clicks(recs, 20)
    assert s["all"]["noc90_score"] == 1.0 and s["all"]["noc85_score"] == 1.0
    assert s["all"]["miou_score"] == [1.0] * 20
    assert s["all"]["count"] == 3 and s["small"]["count"] == 1 and s["medium"]["count"] == 2
    assert s["large"] == {"count": 0}


def test_empty_predictor_gets_iou_0_and_noc_capped(helpers, tmp_path):
    img, masks, data = _dataset(helpers, tmp_path)
    recs = evaluate_clicks(helpers.EmptyPredictor(img.shape[:2]), data, max_clicks=20)
    for r in recs:
        assert r["ious_score"] == [0.0] * 20 and r["ious_oracle"] == [0.0] * 20
        assert len(r["clicks_score"]) == 20 and all(c[2] == 1 for c in r["clicks_score"])
    s = summarize_clicks(recs, 20)
    assert s["all"]["noc85_score"] == 20 and s["all"]["noc90_score"] == 20
    assert s["all"]["nof90_score"] == 1.0 and s["all"]["miou_score"] == [0.0] * 20


class _AmbiguousPredictor:
    """3 masks per call: a wrong one with the best score, the GT with a low score, an empty one.
    Single-mask calls return the wrong one. Records what it was fed back."""

    def __init__(self, gt):
        self.gt = gt
        self.wrong = np.zeros_like(gt)
        self.wrong[:10, :10] = True
        self.fed = []

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None, multimask_output=True,
                return_logits=False):
        self.fed.append(None if mask_input is None else mask_input.copy())
        n = len(point_coords)
        masks = np.stack([self.wrong, self.gt, np.zeros_like(self.gt)])
        logits = np.stack([np.full((8, 8), 100.0 + n), np.full((8, 8), 200.0 + n), np.full((8, 8), 300.0 + n)])
        if not multimask_output:
            return masks[:1], np.array([0.9]), logits[:1]
        return masks, np.array([0.9, 0.1, 0.5]), logits


def test_score_and_oracle_selection_and_logits_feedback():
    gt = np.zeros((40, 40), bool)
    gt[20:35, 20:35] = True
    p = _AmbiguousPredictor(gt)
    score = run_click_trajectory(p, gt, max_clicks=3, multimask="first", selection="score")
    assert score.ious == [0.0, 0.0, 0.0]
    # click 1 chose mask 0 (logits 101), fed back on click 2; click 2 single-mask -> 102 fed on click 3
    assert p.fed[0] is None and p.fed[1].shape == (1, 8, 8) and p.fed[1][0, 0, 0] == 101.0
    assert p.fed[2][0, 0, 0] == 102.0
    p.fed.clear()
    oracle = run_click_trajectory(p, gt, max_clicks=3, multimask="always", selection="oracle")
    assert oracle.ious == [1.0] and p.fed == [None]  # perfect after one click: the user stops


def test_click_trajectory_rejects_bad_settings():
    gt = np.ones((4, 4), bool)
    with pytest.raises(ValueError, match="multimask"):
        run_click_trajectory(None, gt, multimask="sometimes")
    with pytest.raises(ValueError, match="max_clicks"):
        run_click_trajectory(None, gt, max_clicks=0)


def test_box_protocol_with_perfect_predictor(helpers, tmp_path):
    img, masks, data = _dataset(helpers, tmp_path)
    pred = helpers.OraclePredictor({img.tobytes(): masks})
    recs = evaluate_boxes(pred, data, seed=3)
    s = summarize_boxes(recs)
    assert s["all"]["miou_gt_box"] == 1.0
    assert recs[0]["gt_box_xyxy"] == [20.0, 20.0, 80.0, 60.0]
    again = evaluate_boxes(pred, data, seed=3)
    assert [r["noisy_box_xyxy"] for r in again] == [r["noisy_box_xyxy"] for r in recs]
    iou, _ = run_box_prompt(helpers.EmptyPredictor(img.shape[:2]), masks[0], box_from_mask(masks[0]))
    assert iou == 0.0


def test_noisy_box_statistics_and_limits():
    rng = np.random.default_rng(0)
    box = np.array([100, 100, 150, 300], np.float32)  # 50 wide (std 5 px), 200 high (std 20, clipped at 20)
    boxes = np.stack([noisy_box(box, (1000, 1000), rng) for _ in range(4000)])
    shift = boxes - box
    assert np.abs(shift).max() <= 20.0 + 1e-4
    assert shift[:, 0].std() == pytest.approx(5.0, rel=0.08)
    assert 12 < shift[:, 1].std() < 20  # clipping at 20 px shrinks the 20 px std
    edge = np.stack([noisy_box(np.array([0, 0, 10, 10]), (10, 10), rng) for _ in range(200)])
    assert (edge >= 0).all() and (edge <= 10).all()
    assert ((edge[:, 2] - edge[:, 0]) >= 1).all() and ((edge[:, 3] - edge[:, 1]) >= 1).all()


def test_box_from_mask_is_tight_and_exclusive():
    m = np.zeros((10, 10), bool)
    m[2:5, 3:8] = True
    assert box_from_mask(m).tolist() == [3, 2, 8, 5]
    with pytest.raises(ValueError):
        box_from_mask(np.zeros((3, 3), bool))


def test_oracle_trajectory_is_reused_only_when_the_score_picked_the_gt_best_mask(helpers, tmp_path):
    img, masks, data = _dataset(helpers, tmp_path)

    class Counting(helpers.OraclePredictor):
        def predict(self, **kw):
            m, s, l = super().predict(**kw)
            empty = np.zeros_like(m)
            if not kw.get("multimask_output", True):
                return m, s, l
            # GT-best mask first and best-scored: the oracle would choose exactly the same.
            return np.concatenate([m, empty, empty]), np.array([0.9, 0.1, 0.1]), np.concatenate([l, l, l])

    p = Counting({img.tobytes(): masks})
    recs = evaluate_clicks(p, data, max_clicks=5)
    assert len(p.calls) == 3 and all(r["ious_oracle"] == r["ious_score"] == [1.0] for r in recs)
