"""Average recall of ground-truth objects by a list of proposal masks (AMG quality, per size).

This is the SAM paper's object-proposal experiment: class-agnostic, proposals ranked by their
score, recall of GT objects by the top K (K = 100, 1000) at IoU 0.5 and 0.75, and AR = recall
averaged over IoU 0.50:0.05:0.95, overall and for COCO's small/medium/large objects. Matching is
COCO's (pycocotools COCOeval, segm, useCats=0): proposals in score order are matched one-to-one
to the best still-unmatched GT with IoU >= t; crowd GT are "don't care" (matching one is neither
a hit nor a false positive) and objects are bucketed by their annotated area.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from samkit.evaluation.eval_samples import EvalObject

DEFAULT_MAX_PROPOSALS = (100, 1000)
_AREAS = ("all", "small", "medium", "large")


@dataclass(frozen=True)
class ImageProposals:
    """GT objects of one image and the proposals for it. proposal_masks: N x H x W bool (or a
    list of H x W), proposal_scores: N floats (higher ranks first)."""

    image_id: str
    hw: tuple[int, int]
    gt_objects: Sequence[EvalObject]
    proposal_masks: Sequence[np.ndarray]
    proposal_scores: Sequence[float]


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def proposal_recall(images: Sequence[ImageProposals],
                    max_proposals: Sequence[int] = DEFAULT_MAX_PROPOSALS) -> dict:
    """{"AR@K": {area: AR}, "R50@K": {...}, "R75@K": {...}, "num_gt": {area: count}} for each K.

    A value is NaN for an area with no GT object.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    max_proposals = sorted({int(k) for k in max_proposals})
    if not max_proposals or max_proposals[0] < 1:
        raise ValueError(f"max_proposals must be positive integers, got {max_proposals}")
    gt_json = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "object"}]}
    dets = []
    num_gt = {a: 0 for a in _AREAS}
    for n, img in enumerate(images, start=1):
        H, W = img.hw
        gt_json["images"].append({"id": n, "height": H, "width": W})
        for obj in img.gt_objects:
            rle = _rle(obj.mask())
            x0, y0, bw, bh = _bbox_xywh(obj.mask())
            gt_json["annotations"].append({
                "id": len(gt_json["annotations"]) + 1, "image_id": n, "category_id": 1,
                "segmentation": rle, "area": float(obj.area_px), "iscrowd": int(obj.ignore),
                "bbox": [x0, y0, bw, bh],
            })
            if not obj.ignore:
                num_gt["all"] += 1
                num_gt[_bucket(obj.area_px)] += 1
        if len(img.proposal_masks) != len(img.proposal_scores):
            raise ValueError(f"image {img.image_id}: {len(img.proposal_masks)} masks but "
                             f"{len(img.proposal_scores)} scores")
        order = np.argsort(-np.asarray(img.proposal_scores, dtype=np.float64), kind="stable")
        for i in order[: max_proposals[-1]]:
            m = np.asarray(img.proposal_masks[i], dtype=bool)
            if m.shape != (H, W):
                raise ValueError(f"image {img.image_id}: proposal {i} is {m.shape}, image is {(H, W)}")
            dets.append({"image_id": n, "category_id": 1, "segmentation": _rle(m),
                         "score": float(img.proposal_scores[i])})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_json
        coco_gt.createIndex()
        out = {f"{name}@{k}": {a: float("nan") for a in _AREAS} for name in ("AR", "R50", "R75") for k in max_proposals}
        if dets and gt_json["annotations"]:
            coco_dt = coco_gt.loadRes(dets)
            ev = COCOeval(coco_gt, coco_dt, iouType="segm")
            ev.params.useCats = 0
            ev.params.maxDets = max_proposals
            ev.evaluate()
            ev.accumulate()
            recall = ev.eval["recall"]  # T x K(categories) x A x M
            iou_thrs = ev.params.iouThrs
            t50, t75 = int(np.argmin(abs(iou_thrs - 0.5))), int(np.argmin(abs(iou_thrs - 0.75)))
            for ai, area in enumerate(ev.params.areaRngLbl):
                for mi, k in enumerate(max_proposals):
                    r = recall[:, 0, ai, mi]
                    if (r < 0).any():  # -1: no GT in this area range
                        continue
                    out[f"AR@{k}"][area] = float(r.mean())
                    out[f"R50@{k}"][area] = float(r[t50])
                    out[f"R75@{k}"][area] = float(r[t75])
        elif gt_json["annotations"]:
            for key in out:
                for area in _AREAS:
                    if num_gt[area]:
                        out[key][area] = 0.0
    out.update(_average_best_overlap(gt_json["annotations"], dets, max_proposals))
    out["num_gt"] = num_gt
    return out


def _average_best_overlap(gt_anns: list[dict], dets: list[dict], max_proposals: list[int]) -> dict:
    """{"ABO@K": {area: mean over non-crowd GT of the best IoU among the image's top-K proposals}}.

    Average best overlap complements recall: it still moves when no proposal passes IoU 0.5.
    `dets` are already in score order per image (as proposal_recall builds them).
    """
    from pycocotools import mask as mask_utils

    from samkit.evaluation.metrics import size_bucket

    by_image: dict[int, list[dict]] = {}
    for d in dets:
        by_image.setdefault(d["image_id"], []).append(d)
    out = {}
    for k in max_proposals:
        best = {a: [] for a in _AREAS}
        for g in gt_anns:
            if g["iscrowd"]:
                continue
            props = [d["segmentation"] for d in by_image.get(g["image_id"], [])[:k]]
            iou = float(np.max(mask_utils.iou(props, [g["segmentation"]], [0]))) if props else 0.0
            best["all"].append(iou)
            best[size_bucket(g["area"])].append(iou)
        out[f"ABO@{k}"] = {a: (float(np.mean(v)) if v else float("nan")) for a, v in best.items()}
    return out


def _bucket(area_px: float) -> str:
    from samkit.evaluation.metrics import size_bucket

    return size_bucket(area_px)


def _bbox_xywh(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
