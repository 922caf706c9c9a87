"""The rules of SAM 2's training prompt simulation (samkit.training.sam2_prompts), one by one."""

import numpy as np
import torch

from samkit.training.sam2_prompts import (
    Sam2PromptConfig, box_corner_points, concat_points, error_clicks, plan_clip_prompts,
)


def test_an_image_always_starts_from_points_on_its_only_frame():
    for seed in range(20):
        plan = plan_clip_prompts(Sam2PromptConfig(prob_to_use_pt_input=0.0), 1, np.random.default_rng(seed))
        assert plan.use_pt_input and plan.init_cond_frames == (0,) and plan.frames_to_correct == (0,)


def test_clip_plans_follow_the_reference_rules():
    cfg = Sam2PromptConfig()
    seen_pt, seen_init2, seen_correct2, seen_box = set(), set(), set(), set()
    for seed in range(300):
        plan = plan_clip_prompts(cfg, 8, np.random.default_rng(seed))
        assert plan.init_cond_frames[0] == 0 and 1 <= len(plan.init_cond_frames) <= 2
        assert len(set(plan.init_cond_frames)) == len(plan.init_cond_frames)
        assert sorted(plan.processing_order) == list(range(8))
        assert plan.processing_order[: len(plan.init_cond_frames)] == list(plan.init_cond_frames)
        assert set(plan.box_frames) <= set(plan.init_cond_frames)
        if plan.use_pt_input:
            assert set(plan.init_cond_frames) <= set(plan.frames_to_correct) and len(plan.frames_to_correct) <= 2
        else:  # mask prompts: no clicks at all
            assert plan.frames_to_correct == () and plan.box_frames == ()
        seen_pt.add(plan.use_pt_input)
        seen_init2.add(len(plan.init_cond_frames))
        seen_correct2.add(len(plan.frames_to_correct))
        seen_box.add(bool(plan.box_frames))
    assert seen_pt == {True, False} and seen_init2 == {1, 2} and seen_correct2 >= {0, 1, 2} and seen_box == {True, False}
    rate = np.mean([plan_clip_prompts(cfg, 8, np.random.default_rng(s)).use_pt_input for s in range(2000)])
    assert 0.45 < rate < 0.55


def test_box_corners_are_the_box_with_bounded_noise_inside_the_image():
    gt = torch.zeros(1, 1024, 1024, dtype=torch.bool)
    gt[0, 100:400, 200:900] = True  # x 200..899, y 100..399
    exact, labels = box_corner_points(gt, Sam2PromptConfig(box_noise_frac=0.0))
    assert exact.tolist() == [[[200.0, 100.0], [899.0, 399.0]]] and labels.tolist() == [[2, 3]]
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        noisy, _ = box_corner_points(gt, Sam2PromptConfig(), gen)
        delta = (noisy - exact).abs().flatten()
        assert float(delta.max()) <= 20.0 + 1e-4  # min(10% of the side, 20 px at 1024 px)
        assert float(delta[1]) <= 20.0 and float(delta[3]) <= 20.0
    small = torch.zeros(1, 256, 256, dtype=torch.bool)
    small[0, 0:10, 0:10] = True
    noisy, _ = box_corner_points(small, Sam2PromptConfig(), gen)
    assert float(noisy.min()) >= 0.0 and float((noisy - torch.tensor([[[0.0, 0.0], [9.0, 9.0]]])).abs().max()) <= 1.0 + 1e-5


def test_error_clicks_label_false_negatives_1_false_positives_0_and_exact_masks_a_background_click():
    gt = torch.zeros(3, 16, 16, dtype=torch.bool)
    gt[:, 4:12, 4:12] = True
    pred = gt.clone()
    pred[0, 4:12, 4:8] = False  # object 0: only misses (false negatives)
    pred[1, 0:2, 0:16] = True  # object 1: only extra pixels (false positives)
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        coords, labels = error_clicks(gt, pred, gen)
        (x0, y0), (x1, y1), (x2, y2) = coords[:, 0].long().tolist()
        assert labels[:, 0].tolist() == [1, 0, 0]
        assert 4 <= x0 < 8 and 4 <= y0 < 12
        assert y1 < 2
        assert not bool(gt[2, y2, x2])  # exact prediction: a negative click on the background


def test_without_a_prediction_the_click_is_uniform_inside_the_gt():
    gt = torch.zeros(1, 32, 32, dtype=torch.bool)
    gt[0, 10:20, 5:25] = True
    gen = torch.Generator().manual_seed(1)
    xs = []
    for _ in range(200):
        coords, labels = error_clicks(gt, None, gen)
        x, y = coords[0, 0].long().tolist()
        assert labels.item() == 1 and bool(gt[0, y, x])
        xs.append(x)
    assert len(set(xs)) > 15  # spread over the whole object, not one pixel


def test_concat_points_appends_clicks():
    a = concat_points(None, torch.zeros(2, 1, 2), torch.ones(2, 1, dtype=torch.int32))
    b = concat_points(a, torch.ones(2, 1, 2), torch.zeros(2, 1, dtype=torch.int32))
    assert b["point_coords"].shape == (2, 2, 2) and b["point_labels"].tolist() == [[1, 0], [1, 0]]
