"""SAM 2's heads against the reference sam2==1.1.0: mask decoder, prompt encoder, RoPE, memory
attention and memory encoder, built with the same kwargs, loaded from the reference's state dict
(strict) and compared on random inputs (fp32, max abs diff <= 1e-4)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reference_sam2 import import_reference_sam2

from samkit.modeling.prompt_encoder import PromptEncoder
from samkit.modeling.sam2 import memory_attention as ma
from samkit.modeling.sam2 import memory_encoder as me
from samkit.modeling.sam2.mask_decoder import MaskDecoder
from samkit.modeling.sam2.rope import apply_rotary_enc, compute_axial_cis
from samkit.modeling.transformer import TwoWayTransformer

TOL = 1e-4


@pytest.fixture(scope="module")
def ref():
    import_reference_sam2()
    import sam2.modeling.memory_attention as r_ma
    import sam2.modeling.memory_encoder as r_me
    import sam2.modeling.position_encoding as r_pe
    import sam2.modeling.sam.mask_decoder as r_md
    import sam2.modeling.sam.prompt_encoder as r_pr
    import sam2.modeling.sam.transformer as r_tr

    class Ref:
        ma, me, pe, md, pr, tr = r_ma, r_me, r_pe, r_md, r_pr, r_tr

    return Ref


def load_twin(ours: nn.Module, theirs: nn.Module) -> nn.Module:
    """Give `ours` the reference's (randomised) weights; key sets must be identical."""
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0.0, 0.5 / max(1, p.shape[-1]) ** 0.5 if p.ndim > 1 else 0.2)
    theirs_sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(theirs_sd) or set(ours.state_dict()) == set(theirs_sd)
    ours.load_state_dict(theirs_sd, strict=True)
    return ours.eval(), theirs.eval()


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.float() - b.float()).abs().max().item() if a.numel() else 0.0


# ---------------------------------------------------------------- mask decoder


def make_decoders(ref, dim: int, **kwargs):
    theirs = ref.md.MaskDecoder(
        transformer_dim=dim,
        transformer=ref.tr.TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=2048 if dim == 256 else 64,
                                             num_heads=8),
        **kwargs)
    ours = MaskDecoder(
        transformer_dim=dim,
        transformer=TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=2048 if dim == 256 else 64,
                                      num_heads=8, mlp_layout="sam2"),
        **kwargs)
    return load_twin(ours, theirs)


def decoder_inputs(dim: int, hw: int, n_prompts: int, img_batch: int, tokens: int = 3):
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(img_batch, dim, hw, hw, generator=g)
    pe = torch.randn(1, dim, hw, hw, generator=g)
    sparse = torch.randn(n_prompts, tokens, dim, generator=g)
    dense = torch.randn(n_prompts, dim, hw, hw, generator=g)
    hr = [torch.randn(img_batch, dim // 8, 4 * hw, 4 * hw, generator=g),
          torch.randn(img_batch, dim // 4, 2 * hw, 2 * hw, generator=g)]
    return emb, pe, sparse, dense, hr


@pytest.mark.parametrize("multimask", [True, False])
@pytest.mark.parametrize("high_res", [True, False])
@pytest.mark.parametrize("obj", ["none", "linear", "mlp"])
def test_mask_decoder_small(ref, multimask, high_res, obj):
    kw = dict(use_high_res_features=high_res, pred_obj_scores=obj != "none", pred_obj_scores_mlp=obj == "mlp",
              iou_prediction_use_sigmoid=obj == "mlp", use_multimask_token_for_obj_ptr=obj != "linear")
    ours, theirs = make_decoders(ref, 32, **kw)
    for n_prompts, img_batch, repeat in [(1, 1, False), (3, 1, True), (2, 2, False)]:
        emb, pe, sparse, dense, hr = decoder_inputs(32, 8, n_prompts, img_batch)
        args = dict(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense, multimask_output=multimask, repeat_image=repeat,
                    high_res_features=hr if high_res else None)
        with torch.no_grad():
            a, b = ours(**args), theirs(**args)
        for x, y in zip(a, b):
            assert maxdiff(x, y) <= TOL


def test_mask_decoder_hiera_size(ref):
    """transformer_dim 256, 64 x 64 embedding (1024 px), as in every official config."""
    kw = dict(use_high_res_features=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
              iou_prediction_use_sigmoid=True, use_multimask_token_for_obj_ptr=True)
    ours, theirs = make_decoders(ref, 256, **kw)
    emb, pe, sparse, dense, hr = decoder_inputs(256, 64, 2, 1, tokens=2)
    diffs = []
    for multimask in (True, False):
        args = dict(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense, multimask_output=multimask, repeat_image=True,
                    high_res_features=hr)
        with torch.no_grad():
            a, b = ours(**args), theirs(**args)
        diffs += [maxdiff(x, y) for x, y in zip(a, b)]
    assert max(diffs) <= TOL, diffs


def test_dynamic_multimask_via_stability(ref):
    ours, theirs = make_decoders(ref, 32, dynamic_multimask_via_stability=True, pred_obj_scores=True)
    emb, pe, sparse, dense, _ = decoder_inputs(32, 8, 6, 1, tokens=2)  # one click + padding point
    args = dict(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=False, repeat_image=True)
    with torch.no_grad():
        single = theirs.predict_masks(emb, pe, sparse, dense, repeat_image=True)[0][:, 0:1]
    # Random weights give small logits: a delta and a threshold fitted to them (the threshold between
    # the prompts' stability scores) exercise both branches.
    delta = single.abs().median().item()
    ours.dynamic_multimask_stability_delta = theirs.dynamic_multimask_stability_delta = delta
    stability = theirs._get_stability_scores(single).flatten()
    thresh = stability.median().item()
    assert (stability >= thresh).any() and (stability < thresh).any(), stability
    ours.dynamic_multimask_stability_thresh = theirs.dynamic_multimask_stability_thresh = thresh
    with torch.no_grad():
        a, b = ours(**args), theirs(**args)
    for x, y in zip(a, b):
        assert maxdiff(x, y) <= TOL
    assert a[0].shape == (6, 1, 32, 32)


def test_mask_decoder_rejects_mismatched_batch(ref):
    ours, _ = make_decoders(ref, 32)
    emb, pe, sparse, dense, _ = decoder_inputs(32, 8, 3, 2)
    with pytest.raises(ValueError, match="prompts"):
        ours(emb, pe, sparse, dense, multimask_output=True, repeat_image=False)


def test_transformer_layouts_share_arithmetic():
    """SAM 1's layout keeps its keys; SAM 2's layout has layers.0/1 and the same results."""
    sam1 = TwoWayTransformer(2, 32, 4, 64)
    sam2 = TwoWayTransformer(2, 32, 4, 64, mlp_layout="sam2")
    k1, k2 = set(sam1.state_dict()), set(sam2.state_dict())
    assert "layers.0.mlp.lin1.weight" in k1 and "layers.0.mlp.layers.0.weight" in k2
    sd = {k.replace("mlp.lin1", "mlp.layers.0").replace("mlp.lin2", "mlp.layers.1"): v
          for k, v in sam1.state_dict().items()}
    sam2.load_state_dict(sd, strict=True)
    img, pe, tok = torch.randn(2, 32, 4, 4), torch.randn(1, 32, 4, 4), torch.randn(2, 5, 32)
    for x, y in zip(sam1(img, pe, tok), sam2(img, pe, tok)):
        assert torch.equal(x, y)
    with pytest.raises(ValueError, match="mlp_layout"):
        TwoWayTransformer(2, 32, 4, 64, mlp_layout="bad")


# ---------------------------------------------------------------- prompt encoder


def test_prompt_encoder_matches_sam2(ref):
    """SAM 2's PromptEncoder is SAM 1's: same keys, same numbers (points -1..3, boxes, masks, pad)."""
    kw = dict(embed_dim=64, image_embedding_size=(16, 16), input_image_size=(256, 256), mask_in_chans=16)
    theirs = ref.pr.PromptEncoder(**kw)
    ours = PromptEncoder(**kw)
    theirs_sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(theirs_sd)
    ours.load_state_dict(theirs_sd, strict=True)
    g = torch.Generator().manual_seed(2)
    pts = torch.rand(3, 6, 2, generator=g) * 256
    labels = torch.tensor([[-1, 0, 1, 2, 3, 1], [1, 1, 0, -1, -1, -1], [2, 3, 0, 1, -1, 0]], dtype=torch.int32)
    boxes = torch.rand(3, 4, generator=g) * 256
    masks = torch.randn(3, 1, 64, 64, generator=g)
    cases = [((pts, labels), None, None), ((pts, labels), boxes, None), (None, boxes, masks),
             ((pts, labels), None, masks), (None, None, masks), (None, None, None)]
    with torch.no_grad():
        for points, bx, mk in cases:
            a, b = ours(points, bx, mk), theirs(points, bx, mk)
            assert maxdiff(a[0], b[0]) <= 1e-6 and maxdiff(a[1], b[1]) <= 1e-5
        assert maxdiff(ours.get_dense_pe(), theirs.get_dense_pe()) <= 1e-6


# ---------------------------------------------------------------- RoPE


def test_rope_matches_reference(ref):
    for dim, ex, ey in [(64, 8, 8), (256, 64, 64), (16, 5, 3)]:
        assert torch.equal(compute_axial_cis(dim, ex, ey), ref.pe.compute_axial_cis(dim, ex, ey))
    freqs = compute_axial_cis(32, 6, 6)
    q, k = torch.randn(2, 2, 36, 32), torch.randn(2, 2, 36 * 3, 32)
    a = apply_rotary_enc(q, k, freqs, repeat_freqs_k=True)
    b = ref.pe.apply_rotary_enc(q, k, freqs, repeat_freqs_k=True)
    assert maxdiff(a[0], b[0]) <= 1e-6 and maxdiff(a[1], b[1]) <= 1e-6
    empty = torch.randn(2, 2, 0, 32)
    assert apply_rotary_enc(q, empty, freqs)[1] is empty


# ---------------------------------------------------------------- memory attention


def make_memory_attention(mod, *, d_model, kv_in_dim, heads, feat, layers=2, pos_at_attn=False):
    def rope(**extra):
        return mod.RoPEAttention(rope_theta=10000.0, feat_sizes=[feat, feat], embedding_dim=d_model,
                                 num_heads=heads, downsample_rate=1, dropout=0.1, **extra)

    layer = mod.MemoryAttentionLayer(
        activation="relu", dim_feedforward=2 * d_model, dropout=0.1, pos_enc_at_attn=pos_at_attn, d_model=d_model,
        self_attention=rope(), pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=pos_at_attn,
        cross_attention=rope(rope_k_repeat=True, kv_in_dim=kv_in_dim))
    return mod.MemoryAttention(d_model=d_model, pos_enc_at_input=True, layer=layer, num_layers=layers)


@pytest.mark.parametrize("d_model,kv_in_dim,heads,feat,grid,frames,ptrs,pos_at_attn", [
    (64, 16, 1, 8, 8, 2, 4, False),     # official layout, small: kv_in_dim, object pointers excluded from RoPE
    (64, 64, 2, 8, 4, 3, 0, True),      # rotations rebuilt for another grid; no pointers
    (256, 64, 1, 64, 16, 2, 16, False),  # official sizes (d_model 256, memories 64 wide), small grid
])
def test_memory_attention(ref, d_model, kv_in_dim, heads, feat, grid, frames, ptrs, pos_at_attn):
    kw = dict(d_model=d_model, kv_in_dim=kv_in_dim, heads=heads, feat=feat, pos_at_attn=pos_at_attn)
    ours, theirs = load_twin(make_memory_attention(ma, **kw), make_memory_attention(ref.ma, **kw))
    g = torch.Generator().manual_seed(3)
    b, hw, m = 2, grid * grid, frames * grid * grid + ptrs
    curr, curr_pos = torch.randn(hw, b, d_model, generator=g), torch.randn(hw, b, d_model, generator=g)
    mem, mem_pos = torch.randn(m, b, kv_in_dim, generator=g), torch.randn(m, b, kv_in_dim, generator=g)
    with torch.no_grad():
        a = ours(curr=[curr], curr_pos=[curr_pos], memory=mem, memory_pos=mem_pos, num_obj_ptr_tokens=ptrs)
        r = theirs(curr=[curr], curr_pos=[curr_pos], memory=mem, memory_pos=mem_pos, num_obj_ptr_tokens=ptrs)
    assert a.shape == (hw, b, d_model)
    assert maxdiff(a, r) <= TOL


def test_memory_attention_needs_rope_k_repeat_for_more_keys():
    attn = ma.RoPEAttention(embedding_dim=32, num_heads=1, feat_sizes=(4, 4))
    with pytest.raises(ValueError, match="rope_k_repeat"):
        attn(torch.randn(1, 16, 32), torch.randn(1, 32, 32), torch.randn(1, 32, 32))


# ---------------------------------------------------------------- memory encoder


def make_memory_encoder(mod, pe_mod, *, dim, out_dim, input_projection=False):
    return mod.MemoryEncoder(
        out_dim=out_dim,
        position_encoding=pe_mod.PositionEmbeddingSine(num_pos_feats=out_dim, normalize=True, scale=None,
                                                       temperature=10000),
        mask_downsampler=mod.MaskDownSampler(embed_dim=dim, kernel_size=3, stride=2, padding=1),
        fuser=mod.Fuser(layer=mod.CXBlock(dim=dim, kernel_size=7, padding=3, layer_scale_init_value=1e-6,
                                          use_dwconv=True), num_layers=2, dim=dim,
                        input_projection=input_projection),
        in_dim=dim)


@pytest.mark.parametrize("dim,out_dim,grid,input_projection,skip_sigmoid", [
    (32, 16, 8, False, False),
    (32, 32, 6, True, True),
    (256, 64, 16, False, True),  # official widths
])
def test_memory_encoder(ref, dim, out_dim, grid, input_projection, skip_sigmoid):
    # The sine positional encoding has no weights: the reference's serves both (helper A owns ours).
    kw = dict(dim=dim, out_dim=out_dim, input_projection=input_projection)
    ours, theirs = load_twin(make_memory_encoder(me, ref.pe, **kw), make_memory_encoder(ref.me, ref.pe, **kw))
    g = torch.Generator().manual_seed(4)
    pix = torch.randn(2, dim, grid, grid, generator=g)
    masks = torch.randn(2, 1, 16 * grid, 16 * grid, generator=g) * 5
    with torch.no_grad():
        a = ours(pix, masks, skip_mask_sigmoid=skip_sigmoid)
        b = theirs(pix, masks, skip_mask_sigmoid=skip_sigmoid)
    assert maxdiff(a["vision_features"], b["vision_features"]) <= TOL
    assert maxdiff(a["vision_pos_enc"][0], b["vision_pos_enc"][0]) <= 1e-6


def test_mask_downsampler_rejects_bad_stride():
    with pytest.raises(ValueError, match="power"):
        me.MaskDownSampler(stride=3, total_stride=16)
