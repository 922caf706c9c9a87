"""SAM 2 image encoder (Hiera trunk + FPN neck + sine encodings) against the reference sam2==1.1.0.

Both sides are built with the same keyword arguments; the reference's state dict is copied into
samkit's module with strict=True, and outputs are compared in fp32 (max abs diff <= 1e-4).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from reference_sam2 import import_reference_sam2
from samkit.modeling.sam2.hiera import Hiera
from samkit.modeling.sam2.hiera_blocks import (
    add_unpartitioned,
    fused_linear,
    max_pool_channels_last,
    window_partition,
    window_unpartition,
)
from samkit.modeling.sam2.image_encoder import FpnNeck, ImageEncoder
from samkit.modeling.sam2.position_encoding import PositionEmbeddingSine

TOL = 1e-4

# Small trunks: padding (window 6 on a 14 x 14 map), several heads, global blocks, batch 2.
SMALL_TRUNKS = {
    "tiny_global": (dict(embed_dim=16, num_heads=1, stages=[1, 2, 2, 1], global_att_blocks=[2, 4],
                         window_pos_embed_bkg_spatial_size=[7, 7]), 256),
    "padded_windows": (dict(embed_dim=16, num_heads=1, stages=[1, 2, 2, 1], global_att_blocks=[4],
                            window_pos_embed_bkg_spatial_size=[7, 7], window_spec=[8, 4, 6, 3]), 224),
    "two_heads": (dict(embed_dim=24, num_heads=2, stages=[2, 1, 3, 1], global_att_blocks=[5],
                       window_spec=[8, 4, 7, 4]), 160),
}
OFFICIAL = ("t", "s", "b+", "l")


def _ref():
    import_reference_sam2()
    from sam2.modeling.backbones.hieradet import Hiera as RefHiera
    from sam2.modeling.backbones.image_encoder import FpnNeck as RefFpnNeck
    from sam2.modeling.backbones.image_encoder import ImageEncoder as RefImageEncoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine as RefSine

    return RefHiera, RefImageEncoder, RefFpnNeck, RefSine


def official_encoder_kwargs(size: str) -> tuple[dict, dict, dict, int]:
    """(trunk kwargs, neck kwargs without position_encoding, position-encoding kwargs, scalp) from
    the reference's own sam2.1_hiera_<size>.yaml."""
    sam2 = import_reference_sam2()
    path = Path(sam2.__file__).parent / "configs" / "sam2.1" / f"sam2.1_hiera_{size}.yaml"
    enc = yaml.safe_load(path.read_text())["model"]["image_encoder"]
    strip = lambda d: {k: v for k, v in d.items() if k != "_target_"}  # noqa: E731
    neck = strip(enc["neck"])
    pe = strip(neck.pop("position_encoding"))
    return strip(enc["trunk"]), neck, pe, enc["scalp"]


def _encoder(classes, trunk_kw, neck_kw, pe_kw, scalp):
    hiera_cls, encoder_cls, neck_cls, sine_cls = classes
    trunk = hiera_cls(**trunk_kw)
    return encoder_cls(trunk, neck_cls(position_encoding=sine_cls(**pe_kw), **neck_kw), scalp=scalp)


def _small_neck_kwargs(trunk: torch.nn.Module) -> tuple[dict, dict]:
    neck = dict(d_model=32, backbone_channel_list=trunk.channel_list, fpn_top_down_levels=[2, 3],
                fpn_interp_model="nearest")
    return neck, dict(num_pos_feats=32, normalize=True, scale=None, temperature=10000)


def _twin_encoders(trunk_kw, neck_kw=None, pe_kw=None, scalp=1, seed=0):
    """Reference and samkit encoders with identical random weights (non-trivial pos embeddings)."""
    torch.manual_seed(seed)
    if neck_kw is None:
        neck_kw, pe_kw = _small_neck_kwargs(_ref()[0](**trunk_kw))
    ref = _encoder(_ref(), trunk_kw, neck_kw, pe_kw, scalp).eval()
    ours = _encoder((Hiera, ImageEncoder, FpnNeck, PositionEmbeddingSine), trunk_kw, neck_kw, pe_kw, scalp).eval()
    state = ref.state_dict()
    # The reference initialises the positional embeddings to zeros; make them matter.
    for key in ("trunk.pos_embed", "trunk.pos_embed_window"):
        state[key] = torch.randn_like(state[key]) * 0.5
    ref.load_state_dict(state)
    ours.load_state_dict(state, strict=True)
    return ref, ours


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    diffs = [(a["vision_features"] - b["vision_features"]).abs().max().item()]
    for key in ("backbone_fpn", "vision_pos_enc"):
        assert len(a[key]) == len(b[key])
        for x, y in zip(a[key], b[key]):
            assert x.shape == y.shape and x.dtype == y.dtype
            diffs.append((x - y).abs().max().item())
    return max(diffs)


@pytest.mark.parametrize("name", sorted(SMALL_TRUNKS))
def test_small_encoder_matches_reference(name):
    trunk_kw, size = SMALL_TRUNKS[name]
    ref, ours = _twin_encoders(trunk_kw)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert _max_diff(expected, got) <= TOL


@pytest.mark.parametrize("size", ["t", "b+"])
def test_official_trunk_kwargs_match_reference_at_256px(size):
    trunk_kw, neck_kw, pe_kw, scalp = official_encoder_kwargs(size)
    ref, ours = _twin_encoders(trunk_kw, neck_kw, pe_kw, scalp)
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert _max_diff(expected, got) <= TOL


@pytest.mark.slow
@pytest.mark.parametrize("size", ["t", "b+"])
def test_official_encoder_matches_reference_at_1024px(size):
    trunk_kw, neck_kw, pe_kw, scalp = official_encoder_kwargs(size)
    ref, ours = _twin_encoders(trunk_kw, neck_kw, pe_kw, scalp)
    x = torch.randn(1, 3, 1024, 1024)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert [t.shape[-1] for t in got["backbone_fpn"]] == [256, 128, 64]
    assert _max_diff(expected, got) <= TOL


@pytest.mark.parametrize("size", OFFICIAL)
def test_official_trunk_state_dict_keys_and_shapes_match(size, monkeypatch):
    trunk_kw, neck_kw, pe_kw, scalp = official_encoder_kwargs(size)
    # The drop-path schedule calls .item() on a linspace, which meta tensors refuse: keep it on CPU.
    linspace = torch.linspace
    monkeypatch.setattr(torch, "linspace", lambda *a, **k: linspace(*a, **{**k, "device": "cpu"}))
    with torch.device("meta"):  # no weights allocated: only names and shapes are compared
        ref = _encoder(_ref(), trunk_kw, neck_kw, pe_kw, scalp)
        ours = _encoder((Hiera, ImageEncoder, FpnNeck, PositionEmbeddingSine), trunk_kw, neck_kw, pe_kw, scalp)
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    our_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert our_shapes == ref_shapes
    assert ours.trunk.channel_list == ref.trunk.channel_list
    assert [b.window_size for b in ours.trunk.blocks] == [b.window_size for b in ref.trunk.blocks]


def test_bf16_autocast_close_to_fp32():
    trunk_kw, _ = SMALL_TRUNKS["tiny_global"]
    _, ours = _twin_encoders(trunk_kw)
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        fp32 = ours(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = ours(x)
    for a, b in zip(fp32["backbone_fpn"], bf16["backbone_fpn"]):
        rel = (a - b.float()).norm() / a.norm()
        assert rel < 0.03, rel


def test_gradients_match_reference():
    """Training path (no pos-embed cache): same gradients for the trunk parameters."""
    trunk_kw, size = SMALL_TRUNKS["padded_windows"]
    ref, ours = _twin_encoders(trunk_kw)
    x = torch.randn(1, 3, size, size)
    for model in (ref, ours):
        out = model(x)
        sum(f.square().mean() for f in out["backbone_fpn"]).backward()
    ref_grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        assert torch.allclose(p.grad, ref_grads[name].grad, atol=1e-4, rtol=1e-3), name


def test_pos_embed_cache_follows_weight_updates():
    trunk_kw, size = SMALL_TRUNKS["tiny_global"]
    _, ours = _twin_encoders(trunk_kw)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        before = ours(x)["vision_features"]
        ours.trunk.pos_embed.add_(1.0)
        after = ours(x)["vision_features"]
        ours.trunk._pos_embed_cache = None
        fresh = ours(x)["vision_features"]
    assert not torch.equal(before, after)
    assert torch.equal(after, fresh)


def test_window_partition_round_trip_and_fused_add():
    x = torch.randn(2, 13, 10, 5)
    windows, pad_hw = window_partition(x, 4)
    assert windows.shape == (2 * 4 * 3, 4, 4, 5) and pad_hw == (16, 12)
    assert torch.equal(window_unpartition(windows, 4, pad_hw, (13, 10)), x)
    shortcut = torch.randn(2, 12, 8, 5)
    windows, pad_hw = window_partition(torch.randn(2, 12, 8, 5), 4)
    assert torch.equal(add_unpartitioned(shortcut, windows, 4, pad_hw),
                       shortcut + window_unpartition(windows, 4, pad_hw, (12, 8)))


def test_position_embedding_sine_matches_reference():
    ref_cls = _ref()[3]
    ref, ours = ref_cls(64), PositionEmbeddingSine(64)
    for shape in [(2, 8, 16, 12), (1, 3, 16, 12), (1, 3, 5, 7)]:  # second call hits the cache
        feats = torch.randn(shape)
        expected, got = ref(feats), ours(feats)
        assert got.shape == expected.shape == (shape[0], 64, shape[2], shape[3])
        assert torch.allclose(got, expected, atol=1e-6)
    x, y, w, h = torch.rand(4), torch.rand(4), torch.rand(4), torch.rand(4)
    assert torch.allclose(ours.encode_boxes(x, y, w, h), ref.encode_boxes(x, y, w, h), atol=1e-6)
    px, py, labels = torch.rand(2, 3), torch.rand(2, 3), torch.ones(2, 3)
    assert torch.allclose(ours.encode_points(px, py, labels), ref.encode_points(px, py, labels), atol=1e-6)
    with pytest.raises(ValueError):
        PositionEmbeddingSine(63)


def test_mismatched_trunk_and_neck_is_rejected():
    trunk = Hiera(**SMALL_TRUNKS["tiny_global"][0])
    neck = FpnNeck(PositionEmbeddingSine(32), d_model=32, backbone_channel_list=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="Channel dims"):
        ImageEncoder(trunk, neck)


@pytest.mark.parametrize("kernel", [2, (2, 2), 3, (1, 2)])
def test_channels_last_max_pool_matches_max_pool2d(kernel):
    pool = torch.nn.MaxPool2d(kernel, kernel)
    x = torch.randn(2, 9, 11, 5)
    expected = pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    assert torch.equal(max_pool_channels_last(x, pool), expected)


def test_fused_linear_matches_plain_ops():
    layer = torch.nn.Linear(12, 20)
    x, residual = torch.randn(3, 4, 12), torch.randn(3, 4, 20)
    with torch.no_grad():
        assert torch.allclose(fused_linear(x, layer), layer(x), atol=1e-6)
        assert torch.allclose(fused_linear(x, layer, gelu=True), torch.nn.functional.gelu(layer(x)), atol=1e-6)
        assert torch.allclose(fused_linear(x, layer, residual=residual), residual + layer(x), atol=1e-6)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = fused_linear(x, layer, gelu=True)
        assert got.dtype == torch.bfloat16
        assert torch.allclose(got.float(), torch.nn.functional.gelu(layer(x)), atol=0.05, rtol=0.02)
    y = fused_linear(x, layer, gelu=True)  # with autograd: the plain path, differentiable
    y.sum().backward()
    assert layer.weight.grad is not None
