"""The point-batch decoder equals model.mask_decoder; the full-res projector equals
postprocess_masks; boxes from masks equal a brute-force scan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samkit import build_sam, get_preset
from samkit.automatic.fullres import FullResProjector, masks_to_boxes_xyxy
from samkit.inference.point_decoder import PointBatchDecoder
from reference_sam import perturb_weights


@pytest.mark.parametrize("preset", ["tiny", pytest.param("vit_b", marks=pytest.mark.slow)])
def test_point_decoder_matches_mask_decoder(preset):
    cfg = get_preset(preset)
    model = perturb_weights(build_sam(cfg), seed=1)
    h, w = cfg.encoder.embedding_hw
    emb = torch.randn(1, cfg.prompt_encoder.embed_dim, h, w)
    coords = torch.rand(5, 1, 2, dtype=torch.float64) * cfg.img_size
    labels = torch.ones(5, 1, dtype=torch.int)
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        pe = model.prompt_encoder.get_dense_pe()
        ref_masks, ref_iou = model.mask_decoder(emb, pe, sparse, dense, multimask_output=True)
        dec = PointBatchDecoder(model.mask_decoder, cfg.mask_decoder.transformer_num_heads)
        side = dec.prepare(emb, pe, dense[:1])
        out = dec.transformer(side, sparse)
        masks = dec.masks(side, out, torch.arange(5))
        some = dec.masks(side, out, torch.tensor([3, 1]))
    assert torch.allclose(out.iou_pred, ref_iou, atol=1e-5, rtol=0)
    assert masks.shape == ref_masks.shape
    scale = ref_masks.abs().max().item()
    assert (masks - ref_masks).abs().max().item() <= 1e-5 * max(scale, 1.0)
    assert torch.allclose(some, masks[[3, 1]], atol=1e-6)


@pytest.mark.parametrize("input_hw,orig_hw", [((192, 256), (150, 200)), ((256, 171), (300, 200)),
                                              ((256, 256), (64, 64)), ((256, 2), (1000, 7))])
def test_projector_matches_postprocess(input_hw, orig_hw):
    model = build_sam("tiny")
    low = torch.randn(4, 1, 64, 64) * 3
    ref = model.postprocess_masks(low, input_hw, orig_hw)[:, 0]
    p = FullResProjector((64, 64), 256, input_hw, orig_hw, budget_bytes=1 << 16)
    ours = p.logits(p.crop_low_res(low[:, 0]))
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max().item() < 1e-5
    st = p.stats(p.crop_low_res(low[:, 0]), 0.0, 1.0)
    inter = (ref > 1).sum((1, 2)).int()
    union = (ref > -1).sum((1, 2)).int()
    assert torch.allclose(st.stability, inter / union)
    assert st.areas.tolist() == (ref > 0).sum((1, 2)).tolist()
    assert st.boxes_xyxy.tolist() == masks_to_boxes_xyxy(ref > 0).tolist()


def test_masks_to_boxes_brute_force():
    rng = np.random.default_rng(0)
    masks = np.zeros((6, 20, 30), bool)
    masks[0, 3, 4] = True
    masks[1, 2:9, 5:25] = True
    masks[2] = rng.random((20, 30)) > 0.97
    masks[4, :, -1] = True
    masks[5] = True  # masks[3] stays empty
    boxes = masks_to_boxes_xyxy(torch.as_tensor(masks)).tolist()
    for m, b in zip(masks, boxes):
        if not m.any():
            assert b == [0, 0, 0, 0]
            continue
        ys, xs = np.nonzero(m)
        assert b == [xs.min(), ys.min(), xs.max(), ys.max()]
