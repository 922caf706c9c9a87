"""Fixtures of the video tests: a small synthetic video (moving shapes) as JPEG/PNG folders and an
MP4, and twin video predictors (the reference sam2 1.1.0 SAM2VideoPredictor and samkit's) with
identical random weights on the tiny test preset."""

from __future__ import annotations

import dataclasses

import pytest

from synthetic_video import synthetic_frames, write_frame_folder

# A tiny model config both predictors are built from: the test preset with the video predictor's
# post-processing (dynamic multimask fallback, binarized click masks in memory), holes not filled
# (the reference needs its CUDA extension for that).
PRESET = "sam2_test_tiny"


@pytest.fixture(scope="session")
def video_config():
    from samkit.config_sam2 import get_sam2_preset

    cfg = get_sam2_preset(PRESET).with_eval_postprocessing()
    return dataclasses.replace(cfg, binarize_mask_from_pts_for_mem_enc=True)


@pytest.fixture(scope="session")
def twin_video_predictors(video_config):
    """(reference SAM2VideoPredictor, samkit SAM2VideoPredictor), same weights, CPU, eval."""
    from reference_sam2 import _plain_pooling_sizes, build_reference_sam2, reference_sam2_overrides

    from samkit.builder_sam2 import build_sam2_model
    from samkit.video.build_video import video_predictor_from_model

    config_file, overrides = reference_sam2_overrides(video_config)
    ref = build_reference_sam2(config_file, overrides + [
        "++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor", "++model.fill_hole_area=0"], seed=0)
    _plain_pooling_sizes(ref)
    ours = video_predictor_from_model(build_sam2_model(video_config), fill_hole_area=0)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref.eval(), ours.eval()


@pytest.fixture(scope="session")
def jpeg_video(tmp_path_factory):
    return write_frame_folder(tmp_path_factory.mktemp("jpeg_video"), synthetic_frames())


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Tiny models track ~3x faster on one thread on the shared machine (tests/conftest.py)."""
    yield
