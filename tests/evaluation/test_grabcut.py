import numpy as np
import pytest

from samkit.errors import InputError
from samkit.evaluation.grabcut import GrabCutPredictor
from samkit.evaluation.interactive import box_from_mask, run_box_prompt, run_click_trajectory
from samkit.evaluation.metrics import number_of_clicks


@pytest.fixture()
def scene(helpers):
    masks = helpers.scene_masks()
    return helpers.scene_image(masks), masks


def test_box_initialised_grabcut_segments_a_flat_object(scene):
    img, masks = scene
    gc = GrabCutPredictor()
    gc.set_image(img)
    for gt in masks[:2]:
        iou, pred = run_box_prompt(gc, gt, box_from_mask(gt))
        assert iou > 0.9
    masks_out, scores, logits = gc.predict(box=box_from_mask(masks[0]), multimask_output=True)
    assert masks_out.shape == (1, *img.shape[:2]) and scores.tolist() == [1.0] and logits.shape == masks_out.shape


def test_grabcut_clicks_reach_the_object_and_hard_seeds_hold(scene):
    img, masks = scene
    gc = GrabCutPredictor()
    gc.set_image(img)
    traj = run_click_trajectory(gc, masks[1], max_clicks=5, multimask="first")
    assert number_of_clicks(traj.ious, 0.85, 5) <= 5 and max(traj.ious) > 0.85
    # A negative seed inside the box must stay background.
    box = box_from_mask(masks[0])
    out, _, _ = gc.predict(point_coords=np.array([[50, 40]]), point_labels=np.array([0]), box=box)
    assert not out[0, 40, 50]


def test_grabcut_bad_input():
    gc = GrabCutPredictor()
    with pytest.raises(InputError, match="set_image"):
        gc.predict(box=np.array([0, 0, 4, 4]))
    with pytest.raises(InputError, match="uint8"):
        gc.set_image(np.zeros((4, 4), np.float32))
    gc.set_image(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="box or one click"):
        gc.predict()
    with pytest.raises(InputError, match="own"):
        gc.predict(point_coords=np.array([[2, 2]]), point_labels=np.array([1]), mask_input=np.zeros((1, 3, 3)))


def test_the_downscaled_roi_works_like_full_resolution(scene):
    img, masks = scene
    small = GrabCutPredictor(max_side_px=40)  # 160 px image worked on at 40 px, upscaled back
    small.set_image(img)
    iou, pred = run_box_prompt(small, masks[0], box_from_mask(masks[0]))
    assert iou > 0.85 and pred.shape == masks[0].shape
    with pytest.raises(InputError, match="max_side_px"):
        GrabCutPredictor(max_side_px=4)
