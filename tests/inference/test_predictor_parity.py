"""samkit's predictor vs the official one, on identical random weights and the same photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_sam import import_reference, twin_models
from samkit import SamPredictor, get_preset, load_image

LOGIT_TOL = 1e-4


def _photo(request) -> np.ndarray:
    try:
        return load_image(request.getfixturevalue("coco_photo_path"))
    except pytest.skip.Exception:
        return request.getfixturevalue("synthetic_image")


@pytest.fixture(scope="module", params=["tiny", pytest.param("vit_b", marks=pytest.mark.slow)])
def twin_predictors(request):
    sa = import_reference()
    ref, ours = twin_models(get_preset(request.param))
    image = _photo(request)
    ref_pred, our_pred = sa.SamPredictor(ref), SamPredictor(ours)
    ref_pred.set_image(image)
    our_pred.set_image(image)
    return ref_pred, our_pred, image


def test_image_embedding_matches(twin_predictors):
    ref, ours, _ = twin_predictors
    assert ours.input_size == ref.input_size and ours.original_size == tuple(ref.original_size)
    diff = (ref.get_image_embedding() - ours.get_image_embedding()).abs().max().item()
    assert diff <= 1e-4, f"embedding max abs diff {diff}"


def _prompts(h: int, w: int):
    pt = np.array([[w * 0.4, h * 0.55]])
    pts = np.array([[w * 0.4, h * 0.55], [w * 0.7, h * 0.3], [w * 0.1, h * 0.9]])
    box = np.array([w * 0.2, h * 0.25, w * 0.75, h * 0.8])
    return {
        "one point, multimask": dict(point_coords=pt, point_labels=np.array([1]), multimask_output=True),
        "one point, single mask": dict(point_coords=pt, point_labels=np.array([1]), multimask_output=False),
        "fg+bg points": dict(point_coords=pts, point_labels=np.array([1, 0, 1]), multimask_output=False),
        "box": dict(box=box, multimask_output=False),
        "point + box": dict(point_coords=pt, point_labels=np.array([0]), box=box, multimask_output=True),
    }


@pytest.mark.parametrize("case", list(_prompts(1, 1)))
def test_predict_matches(twin_predictors, case):
    ref, ours, image = twin_predictors
    kwargs = _prompts(*image.shape[:2])[case]
    r_masks, r_iou, r_low = ref.predict(**kwargs)
    o_masks, o_iou, o_low = ours.predict(**kwargs)
    assert o_masks.shape == r_masks.shape and o_masks.dtype == r_masks.dtype
    assert np.abs(r_low - o_low).max() <= LOGIT_TOL
    assert np.abs(r_iou - o_iou).max() <= LOGIT_TOL
    # Masks are thresholded logits: a pixel may only differ where the logit is within tolerance of 0.
    r_logits, _, _ = ref.predict(**kwargs, return_logits=True)
    flipped = r_masks != o_masks
    assert np.all(np.abs(r_logits[flipped]) <= LOGIT_TOL), f"{flipped.sum()} mask pixels differ"

    # The low-res logits fed back as a mask prompt (the interactive loop).
    best = int(np.argmax(r_iou))
    kwargs2 = dict(kwargs, mask_input=r_low[best : best + 1], multimask_output=False)
    r2 = ref.predict(**kwargs2)
    o2 = ours.predict(**kwargs2)
    assert np.abs(r2[2] - o2[2]).max() <= LOGIT_TOL
    assert np.abs(r2[1] - o2[1]).max() <= LOGIT_TOL


def test_batched_boxes_match(twin_predictors):
    ref, ours, image = twin_predictors
    h, w = image.shape[:2]
    rng = np.random.default_rng(1)
    xy0 = rng.uniform(0, 0.5, (6, 2)) * [w, h]
    boxes = np.concatenate([xy0, xy0 + rng.uniform(0.1, 0.5, (6, 2)) * [w, h]], axis=1)
    boxes_t = torch.as_tensor(ref.transform.apply_boxes(boxes, image.shape[:2]), dtype=torch.float)
    r_masks, r_iou, r_low = ref.predict_torch(None, None, boxes=boxes_t, multimask_output=True)
    o_masks, o_iou, o_low = ours.predict_torch(None, None, boxes=boxes_t, multimask_output=True)
    assert (r_low - o_low).abs().max().item() <= LOGIT_TOL
    assert (r_iou - o_iou).abs().max().item() <= LOGIT_TOL
    # samkit's own batched API gives the same answer from original-frame boxes.
    pred = ours.segment_batch(boxes=boxes, multimask_output=True)
    assert np.abs(pred.low_res_logits - r_low.numpy()).max() <= LOGIT_TOL
    assert pred.masks.shape == tuple(r_masks.shape) and pred.stability_scores.shape == (6, 3)


def test_model_forward_matches(twin_predictors):
    """Sam.forward (the batched end-to-end API) agrees with the reference's."""
    ref, ours, image = twin_predictors
    x = torch.as_tensor(ref.transform.apply_image(image)).permute(2, 0, 1).float()
    pts = torch.as_tensor(ref.transform.apply_coords(np.array([[[50.0, 60.0], [120.0, 80.0]]]), image.shape[:2]),
                          dtype=torch.float)
    batch = [{"image": x, "original_size": image.shape[:2], "point_coords": pts, "point_labels": torch.tensor([[1, 0]])}]
    with torch.no_grad():
        r = ref.model(batch, multimask_output=True)[0]
        o = ours.model(batch, multimask_output=True)[0]
    assert (r["low_res_logits"] - o["low_res_logits"]).abs().max().item() <= LOGIT_TOL
