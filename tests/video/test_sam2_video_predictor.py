"""samkit's SAM2VideoPredictor on its own: bounded memory on long videos, video files, errors,
objects that the reference cannot track outside autocast, the builder, and hole filling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthetic_video import synthetic_frames, write_frame_folder, write_video

from samkit.errors import InputError
from samkit.video.frame_source import FrameSource


class GeneratedFrames(FrameSource):
    """A long video made on the fly (nothing on disk): a disc moving over a gradient."""

    def __init__(self, num_frames: int, image_size: int, hw=(40, 48)) -> None:
        super().__init__(image_size)
        self.num_frames, (self.video_height, self.video_width) = num_frames, hw
        self.reads = 0

    def _read(self, index: int) -> np.ndarray:
        self.reads += 1
        h, w = self.video_height, self.video_width
        yy, xx = np.mgrid[0:h, 0:w]
        frame = np.stack([xx * 4, yy * 5, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
        cx = 10 + (index % 30)
        frame[(xx - cx) ** 2 + (yy - 20) ** 2 <= 36] = (230, 30, 30)
        from PIL import Image

        return self._resize(Image.fromarray(frame))


@pytest.fixture(scope="module")
def predictor(twin_video_predictors):
    return twin_video_predictors[1]


def _track_bounded(predictor, num_frames):
    source = GeneratedFrames(num_frames, predictor.image_size)
    state = predictor.init_state(source)
    predictor.add_new_points_or_box(state, 0, obj_id=1, points=[[10, 20]], labels=[1])
    predictor.add_new_points_or_box(state, 0, obj_id=2, box=[30, 5, 45, 15])
    encoded = []
    original = predictor.forward_image

    def counting_forward_image(img):
        encoded.append(1)
        return original(img)

    predictor.forward_image = counting_forward_image
    try:
        for frame_idx, obj_ids, masks in predictor.propagate_in_video(state):
            assert masks.shape == (2, 1, 40, 48) and obj_ids == [1, 2]
            assert len(state["cached_features"]) <= predictor.feature_cache_size
            assert frame_idx in state["cached_features"]
            assert len(source.cached_frame_indices) <= source.cache_frames
    finally:
        del predictor.forward_image
    # Every frame is encoded once (frame 0 at init_state), whatever the number of objects.
    assert len(encoded) == num_frames - 1 and source.reads == num_frames
    return state


def test_image_features_and_frames_stay_bounded(predictor):
    state = _track_bounded(predictor, 12)
    assert sorted(state["frames_tracked_per_obj"][0]) == list(range(12))


@pytest.mark.slow
def test_image_features_and_frames_stay_bounded_200_frames(predictor):
    _track_bounded(predictor, 200)


def test_release_old_frames_keeps_the_masks_and_bounds_the_state(predictor):
    results, stored = [], []
    for release in (False, True):
        predictor.release_old_frames = release
        try:
            state = predictor.init_state(GeneratedFrames(30, predictor.image_size))
            predictor.add_new_points_or_box(state, 0, obj_id=1, points=[[10, 20]], labels=[1])
            masks = []
            for frame_idx, _, m in predictor.propagate_in_video(state):
                masks.append(m.clone())
                stored.append(len(state["output_dict_per_obj"][0]["non_cond_frame_outputs"]))
            results.append(masks)
        finally:
            predictor.release_old_frames = False
    assert all(torch.equal(a, b) for a, b in zip(*results))
    window = predictor.memory_window()
    assert max(stored[:30]) == 29 and max(stored[30:]) == window < 29


def test_mp4_gives_the_masks_of_its_frames(predictor, tmp_path):
    """A video file and the folder of its decoded frames (PNG, lossless) track identically."""
    import av

    mp4 = write_video(tmp_path / "clip.mp4", synthetic_frames(6))
    with av.open(str(mp4)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    folder = write_frame_folder(tmp_path / "frames", decoded, suffix=".png")
    results = []
    for video in (str(mp4), str(folder)):
        state = predictor.init_state(video)
        predictor.add_new_points_or_box(state, 2, obj_id=1, points=[[30, 30]], labels=[1])
        masks = {f: m.clone() for f, _, m in predictor.propagate_in_video(state)}
        masks.update({f: m.clone() for f, _, m in predictor.propagate_in_video(state, reverse=True)})
        results.append(masks)
    assert sorted(results[0]) == list(range(6))
    for f in results[0]:
        assert torch.equal(results[0][f], results[1][f])


def test_late_object_tracked_backwards_in_time(predictor, jpeg_video):
    """An object prompted on frame 5 only, tracked from frame 0: its first frames' memory holds no
    object pointer, where the reference (outside autocast) fails on its bf16 memories."""
    state = predictor.init_state(str(jpeg_video))
    predictor.add_new_points_or_box(state, 0, obj_id=1, points=[[20, 30]], labels=[1])
    predictor.add_new_points_or_box(state, 5, obj_id=2, points=[[60, 28]], labels=[1])
    frames = [f for f, _, m in predictor.propagate_in_video(state, start_frame_idx=0)]
    assert frames == list(range(8))
    assert set(state["output_dict_per_obj"][1]["cond_frame_outputs"]) == {5}
    # Backwards from the last frame: object 1's first step has no pointer either (the reference fails).
    frames = [f for f, _, m in predictor.propagate_in_video(state, start_frame_idx=7, reverse=True)]
    assert frames == list(range(7, -1, -1))


def test_clear_input_errors(predictor, jpeg_video):
    from samkit.video.inference_state import TrackingStateError

    state = predictor.init_state(str(jpeg_video))
    with pytest.raises(RuntimeError, match="No input points"):
        next(iter(predictor.propagate_in_video(state)))
    with pytest.raises(InputError, match="outside the video"):
        predictor.add_new_points_or_box(state, 8, obj_id=1, points=[[1, 1]], labels=[1])
    with pytest.raises(InputError, match="outside the video"):
        predictor.add_new_mask(state, -1, obj_id=1, mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="together"):
        predictor.add_new_points_or_box(state, 0, obj_id=1, points=[[1, 1]])
    with pytest.raises(InputError, match="P x 2"):
        predictor.add_new_points_or_box(state, 0, obj_id=1, points=[1, 2, 3], labels=[1])
    with pytest.raises(InputError, match="clearing old points"):
        predictor.add_new_points_or_box(state, 0, obj_id=1, box=[1, 1, 5, 5], clear_old_points=False)
    assert state["obj_ids"] == []  # nothing was added by the bad calls
    predictor.add_new_points_or_box(state, 0, obj_id=1, points=[[20, 30]], labels=[1])
    with pytest.raises(InputError, match="unknown object id 3"):
        predictor.clear_all_prompts_in_frame(state, 0, obj_id=3)
    with pytest.raises(TrackingStateError, match="doesn't exist"):
        predictor.remove_object(state, 3, strict=True)
    with pytest.raises(InputError, match="outside the video"):
        next(iter(predictor.propagate_in_video(state, start_frame_idx=99)))


def test_offload_state_and_non_overlap(predictor, jpeg_video):
    state = predictor.init_state(str(jpeg_video), offload_state_to_cpu=True, offload_video_to_cpu=True)
    assert state["storage_device"] == torch.device("cpu")
    predictor.add_new_points_or_box(state, 0, obj_id=1, points=[[20, 30]], labels=[1])
    out = [m for _, _, m in predictor.propagate_in_video(state, max_frame_num_to_track=2)]
    assert len(out) == 3 and out[0].shape == (1, 1, 72, 96)
    assert state["output_dict_per_obj"][0]["non_cond_frame_outputs"][1]["maskmem_features"].dtype == torch.bfloat16


def test_builder(tmp_path):
    from samkit.builder_sam2 import build_sam2
    from samkit.video.build_video import build_sam2_video_predictor
    from samkit.video.video_predictor import SAM2VideoPredictor

    torch.manual_seed(0)
    p = build_sam2_video_predictor("sam2_test_tiny", device="cpu")
    assert isinstance(p, SAM2VideoPredictor) and not p.training
    assert p.fill_hole_area == 8 and p.binarize_mask_from_pts_for_mem_enc
    assert p.sam_mask_decoder.dynamic_multimask_via_stability
    base = build_sam2("sam2_test_tiny", device="cpu")
    assert p.state_dict().keys() == base.state_dict().keys()
    ckpt = tmp_path / "tiny.pt"
    torch.save({"model": p.state_dict()}, ckpt)
    q = build_sam2_video_predictor("sam2_test_tiny", ckpt, device="cpu", apply_postprocessing=False,
                                   hydra_overrides_extra=["++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor",
                                                          "++model.non_overlap_masks=true"])
    assert q.fill_hole_area == 0 and q.non_overlap_masks and not q.binarize_mask_from_pts_for_mem_enc
    for k, v in p.state_dict().items():
        assert torch.equal(v, q.state_dict()[k]), k
    r = build_sam2_video_predictor("sam2_test_tiny", device="cpu", fill_hole_area=0, feature_cache_size=5)
    assert (r.fill_hole_area, r.feature_cache_size) == (0, 5)
    with pytest.raises(InputError, match="video predictor is one of"):
        build_sam2_video_predictor("sam2_test_tiny", device="cpu", hydra_overrides_extra=["++model._target_=x.Y"])
    with pytest.raises(InputError):
        build_sam2_video_predictor("sam2_test_tiny", device="cpu", hydra_overrides_extra=["++model.nope=1"])


def test_fill_holes():
    from samkit.video.hole_filling import fill_holes_in_mask_scores

    logits = torch.full((2, 1, 12, 12), 5.0)
    logits[0, 0, 2, 2] = -1.0  # a 1-pixel hole
    logits[0, 0, 5:9, 5:9] = -3.0  # a 16-pixel hole
    logits[1, 0, :, 6] = -2.0  # a band from edge to edge: a 12-pixel component
    logits[1, 0, 0, 0] = -1.0  # a 1-pixel hole in a corner
    out = fill_holes_in_mask_scores(logits, max_area=12)
    filled = torch.isclose(out, torch.tensor(0.1))
    assert filled[0, 0, 2, 2] and (out[0, 0, 5:9, 5:9] == -3.0).all()
    assert filled[1, 0, :, 6].all() and filled[1, 0, 0, 0] and filled.sum() == 1 + 12 + 1
    diag = torch.full((1, 1, 6, 6), 5.0)
    diag[0, 0, 1, 1] = diag[0, 0, 2, 2] = diag[0, 0, 3, 3] = -1.0  # 8-connected: one hole of 3
    assert (fill_holes_in_mask_scores(diag, max_area=2)[0, 0].diagonal()[1:4] == -1.0).all()
    assert torch.isclose(fill_holes_in_mask_scores(diag, max_area=3)[0, 0].diagonal()[1:4], torch.tensor(0.1)).all()
