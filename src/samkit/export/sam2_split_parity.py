"""Check the SAM 2 split decoder (sam2_decoder_split.py) against samkit's SAM2ImagePredictor.

The predictor is the reference: set_embedding with the same features, predict() with
multimask_output True (-> the graph's masks 1..3) and False (-> mask 0), points in original-image
pixels, boxes as corner points. The graph is fed what the page feeds: coordinates scaled to the
squashed model-input frame, box corners labelled 2 / 3, one padding point at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from samkit.export.parity import onnx_session


@dataclass
class Sam2Case:
    orig_hw: tuple[int, int]
    points_xy: np.ndarray | None  # N x 2 original-image pixels
    labels: np.ndarray | None  # N
    box_xyxy: np.ndarray | None  # 4, original-image pixels

    def feed(self, img_size: int) -> dict[str, np.ndarray]:
        h, w = self.orig_hw
        scale = np.array([img_size / w, img_size / h], np.float32)
        coords, labels = [], []
        if self.points_xy is not None:
            coords.append(self.points_xy * scale)
            labels.append(self.labels.astype(np.float32))
        if self.box_xyxy is not None:
            coords.append(self.box_xyxy.reshape(2, 2) * scale)
            labels.append(np.array([2.0, 3.0], np.float32))
        coords.append(np.zeros((1, 2), np.float32))
        labels.append(np.array([-1.0], np.float32))
        return {"point_coords": np.concatenate(coords)[None].astype(np.float32),
                "point_labels": np.concatenate(labels)[None].astype(np.float32)}


def random_sam2_cases(n: int, seed: int = 0, orig_hws=((480, 640), (640, 480), (300, 1200))) -> list[Sam2Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        h, w = orig_hws[i % len(orig_hws)]
        k = 1 + i % 3
        pts = (rng.uniform(0, 1, (k, 2)) * [w, h]).astype(np.float32)
        box = np.sort(rng.uniform(0, 1, (2, 2)) * [w, h], axis=0).reshape(4).astype(np.float32) if i % 4 == 3 else None
        cases.append(Sam2Case((h, w), pts, rng.integers(0, 2, k) if k > 1 else np.array([1]), box))
    return cases


@dataclass
class Sam2SplitReport:
    num_cases: int = 0
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    mask_ious: list[float] = field(default_factory=list)

    def summary(self) -> str:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
        return f"{self.num_cases} cases, max |onnx - predictor|: {diffs}; low-res masks IoU min {min(self.mask_ious):.4f}"


class Sam2SplitRunner:
    def __init__(self, image_path: str | os.PathLike, prompt_path: str | os.PathLike, threads: int | None = None):
        self.image = onnx_session(image_path, threads)
        self.prompt = onnx_session(prompt_path, threads)
        self.side: dict[str, np.ndarray] = {}

    def set_features(self, image_embed: np.ndarray, feat_s0: np.ndarray, feat_s1: np.ndarray) -> None:
        names = [o.name for o in self.image.get_outputs()]
        out = self.image.run(None, {"image_embed": image_embed, "feat_s0": feat_s0, "feat_s1": feat_s1})
        self.side = dict(zip(names, out))

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.prompt.run(["low_res_masks", "iou_predictions", "object_score_logits"], feed | self.side)


@torch.no_grad()
def check_sam2_split_parity(model, image_path, prompt_path, embedding, cases: list[Sam2Case]) -> Sam2SplitReport:
    """embedding: a Sam2Embedding (image_embed, high_res_feats [s0, s1])."""
    from samkit.inference.sam2_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(model)
    runner = Sam2SplitRunner(image_path, prompt_path)
    f0, f1 = (f.float().numpy() for f in embedding.high_res_feats)
    runner.set_features(embedding.image_embed.float().numpy(), f0, f1)
    img_size = int(model.image_size)
    report = Sam2SplitReport()
    for case in cases:
        from samkit.inference.sam2_embedding import Sam2Embedding

        predictor.set_embedding(Sam2Embedding(embedding.image_embed, embedding.high_res_feats, case.orig_hw,
                                              embedding.model_key))
        low_res, iou, _ = runner.run(case.feed(img_size))
        for multimask, sel in ((True, slice(1, 4)), (False, slice(0, 1))):
            _, want_iou, want_low = predictor.predict(case.points_xy, case.labels, case.box_xyxy,
                                                      multimask_output=multimask)
            got_low, got_iou = low_res[0, sel], iou[0, sel]
            diffs = {"low_res_masks": np.abs(got_low - want_low).max(), "iou_predictions": np.abs(got_iou - want_iou).max()}
            for k, v in diffs.items():
                report.max_abs_diff[k] = max(report.max_abs_diff.get(k, 0.0), float(v))
            a, b = got_low > 0, want_low > 0
            union = np.logical_or(a, b).sum(axis=(-1, -2))
            report.mask_ious += np.where(union > 0, np.logical_and(a, b).sum(axis=(-1, -2)) / np.maximum(union, 1), 1.0).tolist()
        report.num_cases += 1
    return report
