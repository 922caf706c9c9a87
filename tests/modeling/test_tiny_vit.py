"""samkit's TinyViT (vit_t) against MobileSAM's official code, on identical random weights.

Block-level parity runs at tiny sizes (fast, covers window padding and non-square grids); the full
vit_t parity (1024 x 1024, embedding + predictor outputs on a real photo) is marked slow.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from reference_mobile_sam import randomize_state_dict
from samkit.build import build_sam, load_checkpoint
from samkit.config import SamConfig, get_preset
from samkit.errors import CheckpointError
from samkit.modeling.tiny_vit import TinyViT
from samkit.modeling.tiny_vit_blocks import MBConv, PatchMerging, TinyViTBlock, WindowAttention, window_offset_index

LOGIT_TOL = 1e-4


@pytest.fixture(scope="module")
def mobile_sam():
    if importlib.util.find_spec("mobile_sam") is None:
        pytest.skip("MobileSAM reference missing: pip install mobilesam-mirror (samkit's dev extra)")
    from reference_mobile_sam import import_mobile_sam

    return import_mobile_sam()


def _load_random(ref: nn.Module, ours: nn.Module, seed: int = 0) -> None:
    state = randomize_state_dict(ref.state_dict(), seed)
    ref.load_state_dict(state, strict=True)
    ours.load_state_dict(state, strict=True)
    # The official Attention caches its bias table when eval() is called and does not notice a
    # later load_state_dict (samkit's cache does); refresh it.
    ref.eval()
    ours.eval()


def test_state_dict_keys_and_shapes_are_official(mobile_sam):
    from reference_mobile_sam import build_reference_vit_t

    ref = build_reference_vit_t().state_dict()
    ours = build_sam("vit_t").state_dict()
    assert list(ours) == list(ref)  # same keys, same order
    assert all(ours[k].shape == ref[k].shape and ours[k].dtype == ref[k].dtype for k in ref)
    assert not any(k.endswith(("attention_bias_idxs", ".ab")) for k in ours)


# ---------------------------------------------------------------------------------------------
# Blocks, at tiny sizes


@pytest.mark.parametrize("window", [2, 7, 14])
def test_offset_index_matches_official(mobile_sam, window):
    from mobile_sam.modeling.tiny_vit_sam import Attention

    ref = Attention(8, 4, num_heads=2, attn_ratio=1, resolution=(window, window))
    assert ref.attention_biases.shape[1] == window * window
    assert torch.equal(ref.attention_bias_idxs, window_offset_index(window))


@pytest.mark.parametrize("hw, window", [((10, 12), 7), ((7, 7), 7), ((9, 5), 3)])
def test_tinyvit_block_matches_official(mobile_sam, hw, window):
    from mobile_sam.modeling.tiny_vit_sam import TinyViTBlock as RefBlock

    ref = RefBlock(dim=32, input_resolution=hw, num_heads=2, window_size=window, mlp_ratio=2.0).eval()
    ours = TinyViTBlock(32, 2, window, mlp_ratio=2.0, local_conv_size=3).eval()
    _load_random(ref, ours)
    x = torch.randn(2, *hw, 32)
    with torch.no_grad():
        expected = ref(x.flatten(1, 2)).view(2, *hw, 32)
        got = ours(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # Train mode: BatchNorm on batch statistics, bias gathered afresh, gradients to the table.
    ref.train(), ours.train()
    x.requires_grad_(True)
    expected = ref(x.flatten(1, 2)).view(2, *hw, 32)
    got = ours(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    (g_ref,) = torch.autograd.grad(expected.square().sum(), ref.attn.attention_biases)
    (g_our,) = torch.autograd.grad(got.square().sum(), ours.attn.attention_biases)
    torch.testing.assert_close(g_our, g_ref, atol=1e-4, rtol=1e-4)


def test_mbconv_and_patch_merging_match_official(mobile_sam):
    from mobile_sam.modeling.tiny_vit_sam import MBConv as RefMBConv
    from mobile_sam.modeling.tiny_vit_sam import PatchMerging as RefMerging

    x = torch.randn(2, 16, 10, 12)
    ref_mb, our_mb = RefMBConv(16, 16, 4.0, nn.GELU, 0.0).eval(), MBConv(16, 4.0).eval()
    _load_random(ref_mb, our_mb)
    # The official MBConv adds in place into its input; give it a copy.
    with torch.no_grad():
        torch.testing.assert_close(our_mb(x), ref_mb(x.clone()), atol=1e-5, rtol=1e-5)
    for out_dim, stride in [(32, 2), (320, 1)]:  # the official rule: stride 1 for out_dim 320
        ref_pm = RefMerging((10, 12), 16, out_dim, nn.GELU).eval()
        our_pm = PatchMerging(16, out_dim, stride).eval()
        _load_random(ref_pm, our_pm)
        with torch.no_grad():
            got = our_pm(x)
            expected = ref_pm(x).transpose(1, 2).reshape(got.shape)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_window_attention_sdpa_equals_explicit_softmax():
    attn = WindowAttention(24, 3, 4).eval()
    with torch.no_grad():
        attn.attention_biases.normal_()
    x = torch.randn(5, 16, 24)
    with torch.no_grad():
        got = attn(x)
        q, k, v = attn.qkv(attn.norm(x)).view(5, 16, 3, 3, 8).permute(3, 0, 2, 1, 4)
        logits = q @ k.transpose(-1, -2) / 8**0.5 + attn.attention_biases[:, attn.attention_bias_idxs]
        expected = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(5, 16, 24))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_bias_cache_follows_table_changes():
    attn = WindowAttention(8, 2, 3).eval()
    x = torch.randn(2, 9, 8)
    with torch.no_grad():
        first = attn(x)
        assert torch.equal(attn(x), first)  # served from the cache
        attn.load_state_dict(dict(attn.state_dict(), attention_biases=torch.randn(2, 9)))
        changed = attn(x)
    assert not torch.allclose(changed, first)
    with torch.no_grad():
        attn.attention_biases.zero_()  # in-place, as an optimizer step does
        assert not torch.allclose(attn(x), changed)


# ---------------------------------------------------------------------------------------------
# The tiny test preset: builds, runs and trains fast


def test_tiny_preset_forward_backward():
    model = build_sam("tiny_vit_t")
    cfg = model.config.encoder
    assert isinstance(model.image_encoder, TinyViT)
    model.train()
    x = torch.randn(2, 3, cfg.img_size, cfg.img_size)
    emb = model.image_encoder(x)
    assert emb.shape == (2, cfg.out_chans, cfg.img_size // 16, cfg.img_size // 16)
    assert cfg.embedding_hw == tuple(emb.shape[-2:])
    emb.square().mean().backward()
    for name, p in model.image_encoder.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        else:
            assert name.startswith(("norm_head.", "head.")), f"{name} unexpectedly frozen"
    biases = [m.attention_biases for m in model.image_encoder.modules() if isinstance(m, WindowAttention)]
    assert biases and all(b.grad.abs().sum() > 0 for b in biases)


def test_tiny_preset_bf16_autocast_close_to_fp32():
    model = build_sam("tiny_vit_t")
    _randomize_model(model)
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        fp32 = model.encode_images(x)
        model.encoder_dtype = torch.bfloat16
        bf16 = model.encode_images(x)
    assert bf16.dtype == torch.float32
    rel = (bf16 - fp32).norm() / fp32.norm()
    assert rel < 0.05, f"bf16 relative error {rel:.4f}"


def test_wrong_input_size_is_rejected():
    model = build_sam("tiny_vit_t")
    with pytest.raises(ValueError, match="256 x 256"):
        model.image_encoder(torch.zeros(1, 3, 128, 128))


def test_config_stride_rule_and_validation():
    vit_t = get_preset("vit_t").encoder
    assert vit_t.downsample_strides == (2, 2, 1) and vit_t.embedding_hw == (64, 64)
    bad = dataclasses.replace(get_preset("tiny_vit_t").encoder, downsample_strides=(2, 2))
    with pytest.raises(ValueError, match="downsample_strides"):
        TinyViT(bad)
    cfg = get_preset("tiny_vit_t")
    assert SamConfig.from_json(cfg.to_json()) == cfg


def test_vit_t_state_dict_for_vit_b_names_the_preset(tmp_path):
    path = tmp_path / "mobile_sam.pt"
    torch.save(build_sam("vit_t").state_dict(), path)
    with pytest.raises(CheckpointError, match=r"looks like vit_t, you asked for vit_b"):
        load_checkpoint(path, "vit_b")
    model = load_checkpoint(path)  # the preset is recognised from the keys
    assert model.config.name == "vit_t" and isinstance(model.image_encoder, TinyViT)


def _randomize_model(model: nn.Module) -> None:
    model.load_state_dict(randomize_state_dict(model.state_dict()), strict=True)
