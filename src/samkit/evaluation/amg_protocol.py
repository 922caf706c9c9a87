"""Run an automatic mask generator over a dataset and score its masks as object proposals.

`generator` is anything with SamAutomaticMaskGenerator's `generate(image) -> list[dict]` (each
dict with "segmentation" as an H x W bool array or a COCO RLE, and "predicted_iou"), so the
reference, samkit's generator and any other proposal method plug in the same way. Proposals are
ranked by predicted IoU (the paper ranks AMG proposals by their confidence).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from samkit.evaluation.eval_samples import EvalImage
from samkit.evaluation.proposal_recall import DEFAULT_MAX_PROPOSALS, ImageProposals, proposal_recall


def _as_mask(segmentation, hw: tuple[int, int]) -> np.ndarray:
    if isinstance(segmentation, dict):  # COCO RLE (compressed or counts list)
        from pycocotools import mask as mask_utils

        rle = dict(segmentation)
        if isinstance(rle.get("counts"), list):
            rle = mask_utils.frPyObjects(rle, *rle["size"])
        elif isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode("ascii")
        return mask_utils.decode(rle).astype(bool)
    mask = np.asarray(segmentation, dtype=bool)
    if mask.shape != tuple(hw):
        raise ValueError(f"a proposal is {mask.shape}, the image is {tuple(hw)}")
    return mask


def proposals_from_records(records: Sequence[dict], hw: tuple[int, int]) -> tuple[list[np.ndarray], list[float]]:
    """(masks, scores) of generator output records."""
    masks = [_as_mask(r["segmentation"], hw) for r in records]
    scores = [float(r.get("predicted_iou", r.get("score", 0.0))) for r in records]
    return masks, scores


def evaluate_amg(generator, images: Sequence[EvalImage], max_proposals: Sequence[int] = DEFAULT_MAX_PROPOSALS,
                 desc: str = "amg") -> dict:
    """Proposal recall (see `proposal_recall`) plus the mean number of proposals per image."""
    per_image, counts = [], []
    for image in tqdm(images, desc=desc, unit="img"):
        rgb = image.load()
        masks, scores = proposals_from_records(generator.generate(rgb), rgb.shape[:2])
        counts.append(len(masks))
        per_image.append(ImageProposals(image.image_id, rgb.shape[:2], image.objects, masks, scores))
    result = proposal_recall(per_image, max_proposals)
    result["proposals_per_image"] = float(np.mean(counts)) if counts else 0.0
    return result
