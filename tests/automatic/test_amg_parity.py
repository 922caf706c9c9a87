"""samkit's SamAutomaticMaskGenerator vs segment_anything's, identical weights, same image.

Random weights give masks that are speckled over the whole image, so with default thresholds
little survives; the thresholds-at-0 cases make filtering, NMS, crops and RLE do real work.
"""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samkit.automatic import SamAutomaticMaskGenerator

SCORE_TOL = 1e-4
MASK_IOU_MIN = 0.99


def _rle(seg):
    return {"size": seg["size"], "counts": seg["counts"].encode() if isinstance(seg["counts"], str) else seg["counts"]}


def assert_same_records(ours: list[dict], ref: list[dict]) -> None:
    assert len(ours) == len(ref), f"samkit made {len(ours)} masks, the reference {len(ref)}"
    if not ref:
        return
    ious = mask_utils.iou([_rle(o["segmentation"]) for o in ours], [_rle(r["segmentation"]) for r in ref], [0] * len(ref))
    ious = np.asarray(ious).reshape(len(ours), len(ref))
    # Pair each of ours with the reference mask of the same prompt point and closest scores first,
    # then check the masks agree; a one-to-one pairing is required.
    used: set[int] = set()
    for i, o in enumerate(ours):
        cands = [j for j in range(len(ref)) if j not in used and ious[i, j] >= MASK_IOU_MIN
                 and abs(ref[j]["predicted_iou"] - o["predicted_iou"]) <= SCORE_TOL
                 and ref[j]["point_coords"] == o["point_coords"]]
        assert cands, f"mask {i} ({o['point_coords']}, iou_pred {o['predicted_iou']:.6f}) has no reference match"
        j = max(cands, key=lambda c: ious[i, c])
        used.add(j)
        r = ref[j]
        assert abs(r["stability_score"] - o["stability_score"]) <= SCORE_TOL
        assert r["crop_box"] == o["crop_box"]
        assert all(abs(a - b) <= 1 for a, b in zip(r["bbox"], o["bbox"])), (r["bbox"], o["bbox"])
        assert abs(r["area"] - o["area"]) <= 0.01 * max(r["area"], 1)


CASES = {
    "defaults": dict(points_per_side=16),
    "thresholds0": dict(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.0),
    "thresholds0_nms_off": dict(points_per_side=6, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0),
    "stability_filter": dict(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.3, box_nms_thresh=1.0),
    "crops": dict(points_per_side=6, pred_iou_thresh=0.0, stability_score_thresh=0.0, crop_n_layers=1,
                  crop_n_points_downscale_factor=2),
    "crops_nms_off": dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, crop_n_layers=1,
                          box_nms_thresh=1.0, crop_nms_thresh=1.0),
    "small_regions": dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0,
                          min_mask_region_area=40),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case, tiny_twins, reference_module, synthetic_image):
    ref_model, our_model = tiny_twins
    kw = dict(CASES[case], output_mode="coco_rle")
    # Half size keeps the reference's per-mask Python work (RLE, greedy NMS) fast; one case keeps
    # the full 300 x 400 image.
    image = synthetic_image if case == "thresholds0" else np.ascontiguousarray(synthetic_image[::2, ::2])
    ref = reference_module.SamAutomaticMaskGenerator(ref_model, **kw).generate(image)
    ours = SamAutomaticMaskGenerator(our_model, **kw).generate(image)
    assert_same_records(ours, ref)
    if case != "defaults":
        assert len(ours) > 0  # the case must exercise the pipeline


@pytest.mark.parametrize("mode", ["binary_mask", "uncompressed_rle"])
def test_output_modes_match_reference(mode, tiny_twins, reference_module, synthetic_image):
    ref_model, our_model = tiny_twins
    kw = dict(points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0, output_mode=mode)
    ref = reference_module.SamAutomaticMaskGenerator(ref_model, **kw).generate(synthetic_image)
    ours = SamAutomaticMaskGenerator(our_model, **kw).generate(synthetic_image)
    assert len(ours) == len(ref) > 0
    assert set(ours[0]) == set(ref[0])
    for o, r in zip(sorted(ours, key=lambda d: (d["point_coords"], d["predicted_iou"])),
                    sorted(ref, key=lambda d: (d["point_coords"], d["predicted_iou"]))):
        if mode == "binary_mask":
            assert o["segmentation"].shape == r["segmentation"].shape and o["segmentation"].dtype == bool
            inter = (o["segmentation"] & r["segmentation"]).sum()
            assert inter / max((o["segmentation"] | r["segmentation"]).sum(), 1) >= MASK_IOU_MIN
        else:
            assert o["segmentation"]["size"] == r["segmentation"]["size"]
            assert isinstance(o["segmentation"]["counts"], list) and all(isinstance(c, int) for c in o["segmentation"]["counts"])
            assert sum(o["segmentation"]["counts"]) == r["segmentation"]["size"][0] * r["segmentation"]["size"][1]
        for key in ("area", "bbox", "point_coords", "crop_box"):
            assert type(o[key]) is type(r[key])
        assert isinstance(o["predicted_iou"], float) and isinstance(o["stability_score"], float)


@pytest.mark.slow
def test_vit_b_matches_reference(reference_module, request):
    """vit_b on a real photo (synthetic when the data is absent): 16 points, thresholds 0, NMS off,
    so all 48 masks are compared; random vit_b logits are large enough for real stability scores."""
    from reference_sam import twin_models
    from samkit import get_preset, load_image

    try:
        image = load_image(request.getfixturevalue("coco_photo_path"))
    except pytest.skip.Exception:
        image = request.getfixturevalue("synthetic_image")
    ref_model, our_model = twin_models(get_preset("vit_b"), seed=0)
    kw = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0,
              output_mode="coco_rle")
    ref = reference_module.SamAutomaticMaskGenerator(ref_model, **kw).generate(image)
    ours = SamAutomaticMaskGenerator(our_model, **kw).generate(image)
    assert len(ref) == 48
    assert_same_records(ours, ref)
