"""Drop-in: a user's SAM 2 script, written for the `sam2` package, runs on samkit with its imports
changed from `sam2.` to `samkit.sam2.` and gives the same answers.

The script below is what the sam2 README and notebooks teach: build_sam2(official config name,
official checkpoint), SAM2ImagePredictor.set_image/predict (click, refinement with the best
low-res mask fed back, batched boxes) and SAM2AutomaticMaskGenerator.generate. Both runs load the
same `{"model": state_dict}` checkpoint file (random weights: no official weights exist here).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_sam2 import build_reference_sam2, import_reference_sam2

USER_SCRIPT = '''
import numpy as np
import torch
from sam2.build_sam import build_sam2
from sam2.sam2_image_predictor import SAM2ImagePredictor
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator


def run(checkpoint, image):
    model = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", checkpoint, device="cpu")
    predictor = SAM2ImagePredictor(model)
    with torch.inference_mode():
        predictor.set_image(image)
        masks, scores, logits = predictor.predict(
            point_coords=np.array([[120, 90]]), point_labels=np.array([1]), multimask_output=True)
        sorted_ind = np.argsort(scores)[::-1]
        masks2, scores2, _ = predictor.predict(
            point_coords=np.array([[120, 90], [200, 150]]), point_labels=np.array([1, 0]),
            mask_input=logits[sorted_ind][:1], multimask_output=False)
        box_masks, box_scores, _ = predictor.predict(
            point_coords=None, point_labels=None,
            box=np.array([[30, 40, 250, 200], [100, 100, 300, 230]]), multimask_output=False)
        embedding = predictor.get_image_embedding()
    generator = SAM2AutomaticMaskGenerator(model, points_per_side=4, pred_iou_thresh=0.0,
                                           stability_score_thresh=0.0, box_nms_thresh=1.0)
    records = generator.generate(image)
    return dict(masks=masks, scores=scores, logits=logits, masks2=masks2, scores2=scores2,
                box_masks=box_masks, box_scores=box_scores, embedding=embedding.numpy(), records=records)
'''


def _run(script: str, checkpoint: str, image: np.ndarray) -> dict:
    namespace: dict = {}
    exec(compile(script, "<user script>", "exec"), namespace)
    return namespace["run"](checkpoint, image)


@pytest.mark.slow
def test_user_script_runs_unchanged_but_for_the_import(tmp_path):
    import_reference_sam2()
    reference = build_reference_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", seed=3)
    checkpoint = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": reference.state_dict()}, checkpoint)
    rng = np.random.default_rng(0)
    image = (rng.random((240, 320, 3)) * 255).astype(np.uint8)

    ref = _run(USER_SCRIPT, str(checkpoint), image)
    ported = USER_SCRIPT.replace("from sam2.", "from samkit.sam2.")
    assert ported.count("from samkit.sam2.") == 3
    ours = _run(ported, str(checkpoint), image)

    np.testing.assert_allclose(ours["embedding"], ref["embedding"], atol=1e-4)
    for key in ("scores", "logits", "scores2", "box_scores"):
        np.testing.assert_allclose(ours[key], ref[key], atol=1e-4, err_msg=key)
    for key in ("masks", "masks2", "box_masks"):
        assert ours[key].shape == ref[key].shape and ours[key].dtype == ref[key].dtype, key
        assert (ours[key] != ref[key]).mean() < 1e-4, key
    assert len(ours["records"]) == len(ref["records"]) > 0
    # Each grid point gives three masks: pair them per point, in order of predicted IoU.
    def by_point(records):
        groups: dict = {}
        for r in records:
            groups.setdefault(tuple(np.round(r["point_coords"][0], 3)), []).append(r)
        return {k: sorted(v, key=lambda r: r["predicted_iou"]) for k, v in groups.items()}

    ours_by_point, ref_by_point = by_point(ours["records"]), by_point(ref["records"])
    assert ours_by_point.keys() == ref_by_point.keys()
    for point, recs in ours_by_point.items():
        for rec, twin in zip(recs, ref_by_point[point], strict=True):
            assert set(rec) == set(twin)
            assert abs(rec["predicted_iou"] - twin["predicted_iou"]) < 1e-4
            assert abs(rec["stability_score"] - twin["stability_score"]) < 1e-4
            inter = np.logical_and(rec["segmentation"], twin["segmentation"]).sum()
            union = np.logical_or(rec["segmentation"], twin["segmentation"]).sum()
            assert union == 0 or inter / union > 0.99
