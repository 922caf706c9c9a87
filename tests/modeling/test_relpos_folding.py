"""The rel-pos attention kernels (folded, chunked mask, blockwise, dense) equal the plain masked form."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from samkit.cpu_features import CpuFeatures
from samkit.modeling import relpos_kernels
from samkit.modeling.relpos_attention import RelPosAttention
from samkit.modeling.relpos_kernels import ATTEND, KERNELS, choose_kernel


def plain_masked(q, k, v, rel_h, rel_w, scale):
    """softmax(scale * q k^T + rel_h[i, ky] + rel_w[i, kx]) v, with the N x N bias built in full."""
    b, heads, n, _ = q.shape
    bias = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(b, heads, n, n)
    attn = (scale * q @ k.transpose(-1, -2) + bias).softmax(-1)
    return attn @ v


# Only "blockwise" reads BLOCK_QUERIES: it runs with blocks of 7 queries and with all at once.
KERNEL_CASES = [(k, 4096) for k in KERNELS if k != "blockwise"] + [("blockwise", 7), ("blockwise", 4096)]


@pytest.mark.parametrize("kernel,block_queries", KERNEL_CASES)
@pytest.mark.parametrize("b,heads,hw,c", [(1, 2, (8, 8), 16), (3, 1, (6, 5), 8), (2, 3, (4, 7), 32)])
def test_kernels_equal_the_masked_reference(kernel, block_queries, b, heads, hw, c, monkeypatch):
    # A small chunk budget makes "masked" split the queries into several chunks (the path big grids take);
    # "blockwise" loops over blocks of 7 queries (global attention) or takes all at once (windows).
    monkeypatch.setattr(relpos_kernels, "MASK_CHUNK_ELEMS", b * heads * hw[0] * hw[1] * 5)
    monkeypatch.setattr(relpos_kernels, "BLOCK_QUERIES", block_queries)
    g = torch.Generator().manual_seed(0)
    n = hw[0] * hw[1]
    # q/k/v as strided views of one qkv tensor, as the model hands them over.
    qkv = torch.randn(b, n, 3, heads, c, generator=g).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    rel_h = torch.randn(b, heads, n, hw[0], generator=g)
    rel_w = torch.randn(b, heads, n, hw[1], generator=g)
    want = plain_masked(q, k, v, rel_h, rel_w, c ** -0.5)
    with torch.no_grad():
        got = ATTEND[kernel](q, k, v, rel_h, rel_w, c ** -0.5)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("kernel", ["folded", "masked", "blockwise", "dense", None])
def test_module_output_and_gradients_do_not_depend_on_the_kernel(kernel):
    torch.manual_seed(0)
    attn = RelPosAttention(32, num_heads=4, use_rel_pos=True, input_size=(6, 6))
    with torch.no_grad():
        attn.rel_pos_h.normal_(0, 0.5)
        attn.rel_pos_w.normal_(0, 0.5)
    x = torch.randn(2, 6, 6, 32)
    attn.kernel = "dense"
    with torch.no_grad():
        want = attn(x)
    attn.kernel = kernel
    with torch.no_grad():
        got = attn(x, residual=x)
    torch.testing.assert_close(got, want + x, atol=2e-6, rtol=1e-5)
    # With gradients the model trains through the folded form whatever was chosen for inference.
    attn.kernel = None
    x.requires_grad_(True)
    attn(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and attn.rel_pos_h.grad.abs().sum() > 0


def _cpu(flags):
    return CpuFeatures("test CPU", frozenset(flags))


@pytest.mark.parametrize("flags,dtype,want", [
    ({"amx_bf16", "avx512_bf16", "avx512f"}, torch.bfloat16, "folded"),
    ({"avx512_bf16", "avx512f"}, torch.bfloat16, "blockwise"),
    ({"amx_bf16", "avx512_bf16"}, torch.float32, "masked"),
    ({"avx2"}, torch.float32, "masked"),
])
def test_kernel_choice_by_cpu_kind(monkeypatch, flags, dtype, want):
    monkeypatch.delenv("SAMKIT_RELPOS_KERNEL", raising=False)
    monkeypatch.setattr(relpos_kernels, "cpu_features", lambda: _cpu(flags))
    assert choose_kernel(dtype, torch.device("cpu")) == want


def test_kernel_override_by_environment(monkeypatch):
    monkeypatch.setenv("SAMKIT_RELPOS_KERNEL", "blockwise")
    assert choose_kernel(torch.float32, torch.device("cpu")) == "blockwise"
    monkeypatch.setenv("SAMKIT_RELPOS_KERNEL", "fastest")
    with pytest.raises(ValueError, match="SAMKIT_RELPOS_KERNEL"):
        choose_kernel(torch.float32, torch.device("cpu"))


def test_bf16_stream_encoder_stays_close_to_fp32(one_torch_thread):
    from samkit.build import build_sam

    torch.manual_seed(0)
    model = build_sam("tiny").eval()
    x = model.preprocess(torch.rand(1, 3, 256, 192) * 255)
    with torch.inference_mode():
        want = model.image_encoder(x)
        for carry in (True, False):
            model.image_encoder.carry_autocast_dtype = carry
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got = model.image_encoder(x).float()
            rel = float((got - want).norm() / want.norm())
            assert rel < 0.03, (carry, rel)
    assert F.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.999
