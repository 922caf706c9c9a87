"""Run the click and box protocols of one predictor over a dataset, and summarise them.

Per-object records are plain dicts (JSON-ready); summaries group them overall and by COCO size
bucket. Objects marked `ignore` (COCO crowds) are never prompted.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from samkit.evaluation.eval_samples import EvalImage
from samkit.evaluation.interactive import box_from_mask, noisy_box, run_box_prompt, run_click_trajectory
from samkit.evaluation.metrics import COCO_AREA_RANGES, fraction_failed, miou_curve, number_of_clicks, size_bucket
from samkit.evaluation.predictor_protocol import InteractivePredictor
from samkit.evaluation.score_calibration import score_calibration

GROUPS = ("all",) + tuple(COCO_AREA_RANGES)


def _object_record(image: EvalImage, obj) -> dict:
    return {"image_id": image.image_id, "object_id": obj.object_id, "area_px": obj.area_px,
            "size": size_bucket(obj.area_px)}


def _prompted_objects(predictor: InteractivePredictor, images: Sequence[EvalImage], desc: str):
    """Yield (image, object, H x W bool GT mask) for every object a protocol prompts, with the
    predictor already set to that image (each image is encoded once). Crowd ("ignore") objects and
    degenerate annotations (a polygon below one pixel: nothing to click) are skipped."""
    for image in tqdm(images, desc=desc, unit="img"):
        objects = [o for o in image.objects if not o.ignore]
        if not objects:
            continue
        predictor.set_image(image.load())
        for obj in objects:
            gt = obj.mask()
            if gt.any():
                yield image, obj, gt


def evaluate_clicks(predictor: InteractivePredictor, images: Sequence[EvalImage], max_clicks: int = 20,
                    multimask: str = "first", oracle: bool = True, desc: str = "clicks") -> list[dict]:
    """One record per prompted object: ious_score[k-1] / ious_oracle[k-1] = IoU after k clicks
    with the highest-score mask / the GT-best mask chosen (see `interactive`); pred_ious_score[k-1]
    = the predictor's score of the mask it chose after k clicks; first_click_pred_ious /
    first_click_ious = every mask of the first click, its score and its real IoU."""
    records = []
    for image, obj, gt in _prompted_objects(predictor, images, desc):
        rec = _object_record(image, obj)
        scored = run_click_trajectory(predictor, gt, max_clicks, multimask, "score")
        rec["ious_score"] = scored.ious
        rec["clicks_score"] = [[c.x, c.y, int(c.is_positive)] for c in scored.clicks]
        rec["pred_ious_score"] = scored.scores
        rec["first_click_pred_ious"], rec["first_click_ious"] = scored.first_click_scores, scored.first_click_ious
        if oracle and scored.used_multiple_masks and not scored.choices_were_oracle:
            rec["ious_oracle"] = run_click_trajectory(predictor, gt, max_clicks, multimask, "oracle").ious
        else:  # one hypothesis per click, or the score already chose the GT-best mask every time
            rec["ious_oracle"] = list(scored.ious)
        records.append(rec)
    return records


def evaluate_boxes(predictor: InteractivePredictor, images: Sequence[EvalImage], seed: int = 0,
                   desc: str = "boxes") -> list[dict]:
    """One record per object: IoU with the tight GT box and with a training-style noisy box.

    The noisy boxes come from one Generator seeded with `seed`, drawn in dataset order, so every
    model sees the same noisy boxes.
    """
    rng = np.random.default_rng(seed)
    records = []
    for image, obj, gt in _prompted_objects(predictor, images, desc):
        rec = _object_record(image, obj)
        box = box_from_mask(gt)
        jitter = noisy_box(box, gt.shape, rng)
        rec["iou_gt_box"], _ = run_box_prompt(predictor, gt, box)
        rec["iou_noisy_box"], _ = run_box_prompt(predictor, gt, jitter)
        rec["gt_box_xyxy"], rec["noisy_box_xyxy"] = box.tolist(), jitter.tolist()
        records.append(rec)
    return records


def _groups(records: Sequence[dict]) -> dict[str, list[dict]]:
    return {g: [r for r in records if g == "all" or r["size"] == g] for g in GROUPS}


def summarize_clicks(records: Sequence[dict], max_clicks: int = 20) -> dict:
    """Per group: count, mIoU after 1..max_clicks (score and oracle selection), NoC@85/90 and the
    share of objects failing 85/90 within max_clicks, and how the predicted IoU tracks the real one
    (`score_calibration`): "calibration_first_click" over every mask of the first click,
    "calibration_chosen" over the chosen mask of every click made. Empty groups get count 0 and
    no numbers."""
    out = {}
    for group, recs in _groups(records).items():
        if not recs:
            out[group] = {"count": 0}
            continue
        s = {"count": len(recs)}
        for sel in ("score", "oracle"):
            ious = [r[f"ious_{sel}"] for r in recs]
            s[f"miou_{sel}"] = miou_curve(ious, max_clicks)
            for t in (85, 90):
                s[f"noc{t}_{sel}"] = float(np.mean([number_of_clicks(i, t / 100, max_clicks) for i in ious]))
                s[f"nof{t}_{sel}"] = fraction_failed(ious, t / 100, max_clicks)
        # Records written before the scores were kept have none: their calibration is NaN.
        s["calibration_first_click"] = score_calibration(
            [x for r in recs for x in r.get("first_click_pred_ious", [])],
            [x for r in recs for x in r.get("first_click_ious", [])])
        chosen = [(p, a) for r in recs for p, a in zip(r.get("pred_ious_score", []), r["ious_score"])]
        s["calibration_chosen"] = score_calibration([p for p, _ in chosen], [a for _, a in chosen])
        out[group] = s
    return out


def summarize_boxes(records: Sequence[dict]) -> dict:
    out = {}
    for group, recs in _groups(records).items():
        out[group] = {"count": len(recs)}
        if recs:
            out[group]["miou_gt_box"] = float(np.mean([r["iou_gt_box"] for r in recs]))
            out[group]["miou_noisy_box"] = float(np.mean([r["iou_noisy_box"] for r in recs]))
    return out
