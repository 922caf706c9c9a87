"""SAM 1 heads transplanted into a SAM 2 model compute SAM 1's masks from the same image embedding."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from samkit.build import build_sam
from samkit.builder_sam2 import build_sam2_model
from samkit.config import PRESETS
from samkit.config_sam2 import SAM2_PRESETS
from samkit.errors import InputError
from samkit.training.sam2_head_calibration import agreement_with_sam1, calibrate_heads
from samkit.training.sam2_transplant import (
    IOU_SIGMOID_SCALE, IOU_SIGMOID_SHIFT, random_prompts, sam1_low_res_masks, sam1_tokens_like_sam2,
    sam2_low_res_masks, transplant_sam1_heads,
)


def _sam1_tiny_8_heads():
    """SAM 1's test preset with 8 decoder heads (SAM 2 hard-codes 8), trained-looking: random weights."""
    cfg = PRESETS["tiny"]
    torch.manual_seed(0)
    return build_sam(dataclasses.replace(cfg, mask_decoder=dataclasses.replace(cfg.mask_decoder,
                                                                                transformer_num_heads=8))).eval()


def _sam2_tiny(obj_scores: bool):
    cfg = SAM2_PRESETS["sam2_test_tiny"]
    if not obj_scores:
        cfg = dataclasses.replace(cfg, pred_obj_scores=False, pred_obj_scores_mlp=False, fixed_no_obj_ptr=False)
    torch.manual_seed(1)
    return build_sam2_model(cfg).eval()


def _prompt_cases(g: torch.Generator, image_px: int):
    coords, labels = random_prompts(5, image_px, g, max_clicks=3)
    boxes = torch.sort(torch.rand(5, 2, 2, generator=g) * image_px, dim=1)[0].reshape(5, 4)
    mask_in = torch.randn(5, 1, 64, 64, generator=g)
    return {"clicks": (coords, labels, None, None), "box": (None, None, boxes, None),
            "box+click": (coords[:, :1], labels[:, :1], boxes, None), "clicks+mask": (coords, labels, None, mask_in)}


@pytest.mark.parametrize("case", ["clicks", "box", "box+click", "clicks+mask"])
def test_heads_compute_sam1_exactly_without_the_object_token(case):
    sam1, sam2 = _sam1_tiny_8_heads(), _sam2_tiny(obj_scores=False)
    report = transplant_sam1_heads(sam1, sam2)
    assert "sam_mask_decoder.transformer.layers.0.mlp" in report["embedded"]
    g = torch.Generator().manual_seed(2)
    emb = torch.randn(1, 64, 16, 16, generator=g)
    with torch.no_grad():
        sparse, dense = sam1_tokens_like_sam2(sam1, *_prompt_cases(g, 256)[case])
        m1, iou1 = sam1_low_res_masks(sam1, emb, sparse, dense)
        m2, iou2, obj = sam2_low_res_masks(sam2, emb, sparse, dense)
    assert m1.shape == m2.shape == (5, 4, 64, 64)
    torch.testing.assert_close(m2, m1, atol=1e-5, rtol=1e-5)
    # SAM 2.1's IoU head ends in a sigmoid: same ranking, about SAM 1's value.
    torch.testing.assert_close(iou2, torch.sigmoid(IOU_SIGMOID_SCALE * iou1 + IOU_SIGMOID_SHIFT), atol=1e-5, rtol=1e-5)
    assert torch.equal(iou2.argmax(1), iou1.argmax(1))
    assert (obj > 0).all()


def test_sam2_predictor_tokens_equal_sam1_points_and_padding():
    """A SAM 2 box is two corner points and a padding token; SAM 1's own click path is unchanged."""
    sam1 = _sam1_tiny_8_heads()
    coords, labels = torch.tensor([[[10.0, 20.0]]]), torch.tensor([[1]])
    own = sam1.prompt_encoder(points=(coords, labels), boxes=None, masks=None)[0]
    like2 = sam1_tokens_like_sam2(sam1, coords, labels, None, None)[0]
    assert torch.equal(own, like2)
    box = torch.tensor([[5.0, 6.0, 50.0, 60.0]])
    assert sam1_tokens_like_sam2(sam1, None, None, box, None)[0].shape[1] == 3  # 2 corners + padding


def test_extra_units_learn_but_start_silent():
    sam1, sam2 = _sam1_tiny_8_heads(), _sam2_tiny(obj_scores=True)
    transplant_sam1_heads(sam1, sam2)
    dec = sam2.sam_mask_decoder
    lin1, lin2 = dec.transformer.layers[0].mlp.layers
    hidden = sam1.mask_decoder.transformer.layers[0].mlp.lin1.out_features
    assert lin1.weight[hidden:].abs().sum() > 0 and torch.all(lin2.weight[:, hidden:] == 0)
    assert torch.all(dec.conv_s0.weight == 0) and torch.all(dec.conv_s1.bias == 0)
    assert torch.all(sam2.no_mem_embed == 0)


def test_object_token_calibration_moves_only_the_token():
    sam1, sam2 = _sam1_tiny_8_heads(), _sam2_tiny(obj_scores=True)
    transplant_sam1_heads(sam1, sam2)
    start = {k: v.clone() for k, v in sam2.state_dict().items()}
    embeddings = torch.randn(4, 64, 16, 16, generator=torch.Generator().manual_seed(3))
    losses = calibrate_heads(sam1, sam2, embeddings, steps=40, prompts_per_step=8, which="obj_token")
    assert sum(losses[-10:]) < sum(losses[:10])
    changed = {k for k, v in sam2.state_dict().items() if not torch.equal(v, start[k])}
    assert changed == {"sam_mask_decoder.obj_score_token.weight"}
    assert all(p.requires_grad for p in sam2.parameters())  # the freeze is undone


def test_head_calibration_brings_sam2_prompts_back_to_sam1_masks():
    """The object token and SAM 2's padded boxes move the masks; calibrating the heads brings them back."""
    sam1, sam2 = _sam1_tiny_8_heads(), _sam2_tiny(obj_scores=True)
    transplant_sam1_heads(sam1, sam2)
    start = {k: v.clone() for k, v in sam2.state_dict().items()}
    g = torch.Generator().manual_seed(6)
    fit, check = torch.randn(4, 64, 16, 16, generator=g), torch.randn(2, 64, 16, 16, generator=g)
    before = agreement_with_sam1(sam1, sam2, check)
    calibrate_heads(sam1, sam2, fit, steps=60, lr=1e-3, prompts_per_step=8)
    after = agreement_with_sam1(sam1, sam2, check)
    assert after["box"] > before["box"] and after["click"] > before["click"] - 0.02
    state = sam2.state_dict()
    for frozen in ("sam_mask_decoder.pred_obj_score_head.layers.2.bias", "sam_mask_decoder.conv_s0.weight",
                   "image_encoder.neck.convs.0.conv.weight", "memory_attention.norm.weight"):
        assert torch.equal(state[frozen], start[frozen]), frozen


def test_incompatible_models_are_refused():
    sam1 = build_sam("tiny")  # 4 decoder heads, SAM 2 has 8
    with pytest.raises(InputError, match="depth/heads"):
        transplant_sam1_heads(sam1, _sam2_tiny(obj_scores=True))


def test_builtin_model_heads_fit_the_sam2_cpu_preset():
    """The shipped SAM 1 model's heads (128-d, MLP 512, IoU head 128) into sam2_cpu (MLP 2048, IoU 256)."""
    from samkit.build import load_model

    sam1 = load_model(device="cpu", dtype="float32")
    cfg = dataclasses.replace(SAM2_PRESETS["sam2_cpu"], pred_obj_scores=False, pred_obj_scores_mlp=False,
                              fixed_no_obj_ptr=False)
    sam2 = build_sam2_model(cfg).eval()
    transplant_sam1_heads(sam1, sam2)
    g = torch.Generator().manual_seed(4)
    emb = torch.randn(1, 128, 24, 24, generator=g) * 0.5
    coords, labels = random_prompts(4, 384, g, max_clicks=2)
    with torch.no_grad():
        sparse, dense = sam1_tokens_like_sam2(sam1, coords, labels, None, None)
        m1, _ = sam1_low_res_masks(sam1, emb, sparse, dense)
        m2, _, _ = sam2_low_res_masks(sam2, emb, sparse, dense)
    assert m2.shape == (4, 4, 96, 96)
    torch.testing.assert_close(m2, m1, atol=1e-4, rtol=1e-4)


def test_transplanted_sam2_cpu_runs_in_the_official_package():
    """sam2_cpu is sam2.1_hiera_t.yaml plus hydra overrides: the official sam2 package loads a
    transplanted model strictly and computes the same image features and masks."""
    from reference_sam2 import twin_sam2_models

    from samkit.build import load_model

    ref, ours = twin_sam2_models("sam2_cpu")
    transplant_sam1_heads(load_model(device="cpu", dtype="float32"), ours)
    ref.load_state_dict(ours.state_dict(), strict=True)
    image = torch.randn(1, 3, 384, 384, generator=torch.Generator().manual_seed(5))
    clicks = {"point_coords": torch.tensor([[[100.0, 200.0]]]), "point_labels": torch.tensor([[1]], dtype=torch.int32)}
    outs = []
    with torch.no_grad():
        for model in (ref, ours):
            fpn = model.forward_image(image)["backbone_fpn"]
            feat = fpn[-1] + model.no_mem_embed.view(1, -1, 1, 1)
            outs.append(model._forward_sam_heads(feat, clicks, high_res_features=fpn[:2], multimask_output=True))
    for a, b in zip(outs[0], outs[1]):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
