"""Three exact ways to compute attention with SAM's decomposed relative-position bias, and the choice.

All take q, k, v: B x heads x N x C (N = H*W tokens of a window or of the whole grid), the per-query
bias rows rel_h: B x heads x N x H and rel_w: B x heads x N x W (bias of query i on key (ky, kx) is
rel_h[i, ky] + rel_w[i, kx]) and the softmax scale, and return B x heads x N x C. They compute the
same function (tests/modeling/test_relpos_folding.py); which is fastest depends on the dtype and CPU:

- "folded": the bias folded into the dot product, q' = [scale*q, rel_h, rel_w], k' = [k, onehot(ky),
  onehot(kx)], so q'.k' = scale*q.k + bias and one mask-free `scaled_dot_product_attention` runs the
  fused flash kernel (no N x N tensor). V is zero-padded to q's width because PyTorch's fused CPU
  kernels need E == Ev (the unfused fallback is 5-25x slower). Costs 3x the attention FLOPs at
  C=64 (head dim 192), which AMX's bf16 tiles absorb: fastest there.
- "masked": the float bias built for a chunk of queries at a time (never the whole N x N per call)
  and handed to SDPA as attn_mask. The reference's arithmetic; fastest in fp32.
- "dense": the reference's form (one full N x N mask), for graph export: ONNX / OpenVINO fuse it
  themselves, and the folded form would hand them 3x the attention FLOPs.
- "blockwise": plain matmul, bias add, softmax, matmul over chunks of queries. Measured ~25% faster
  than "masked" in bf16 on AVX-512-bf16 CPUs without AMX, where "folded" was 2x slower.
"""

from __future__ import annotations

import functools
import os

import torch
from torch.nn import functional as F

from samkit.cpu_features import cpu_features

KERNELS = ("folded", "masked", "blockwise", "dense")
MASK_CHUNK_ELEMS = 1 << 25  # 32 M bias entries (128 MB fp32) at most per SDPA call in "masked"
BLOCK_QUERIES = 256


def attend_folded(q, k, v, rel_h, rel_w, scale: float) -> torch.Tensor:
    b, heads, n, c = q.shape
    h, w = rel_h.shape[-1], rel_w.shape[-1]
    q_aug = torch.cat([q * scale, rel_h, rel_w], dim=-1)
    ind = key_indicators((h, w), q.dtype, q.device).expand(b, heads, n, h + w)
    k_aug = torch.cat([k, ind], dim=-1)
    v_pad = F.pad(v, (0, h + w))
    return F.scaled_dot_product_attention(q_aug, k_aug, v_pad, scale=1.0)[..., :c]


def attend_masked(q, k, v, rel_h, rel_w, scale: float) -> torch.Tensor:
    b, heads, n, c = q.shape
    h, w = rel_h.shape[-1], rel_w.shape[-1]
    chunk = max(1, min(n, MASK_CHUNK_ELEMS // max(1, b * heads * n)))
    if chunk >= n:
        return attend_dense(q, k, v, rel_h, rel_w, scale)
    out = q.new_empty(b, heads, n, v.shape[-1])
    mask = q.new_empty(b, heads, chunk, h, w)  # one buffer reused for every chunk
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        m = mask[:, :, : e - s]
        torch.add(rel_h[:, :, s:e, :, None], rel_w[:, :, s:e, None, :], out=m)
        out[:, :, s:e] = F.scaled_dot_product_attention(q[:, :, s:e], k, v, attn_mask=m.view(b, heads, e - s, n),
                                                        scale=scale)
    return out


def attend_dense(q, k, v, rel_h, rel_w, scale: float) -> torch.Tensor:
    b, heads, n, _ = q.shape
    mask = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(b, heads, n, n)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def attend_blockwise(q, k, v, rel_h, rel_w, scale: float) -> torch.Tensor:
    b, heads, n, c = q.shape
    h, w = rel_h.shape[-1], rel_w.shape[-1]
    out = q.new_empty(b, heads, n, v.shape[-1])
    k_t = k.transpose(-1, -2)
    for s in range(0, n, BLOCK_QUERIES):
        e = min(n, s + BLOCK_QUERIES)
        attn = torch.matmul(q[:, :, s:e] * scale, k_t).view(b, heads, e - s, h, w)
        attn.add_(rel_h[:, :, s:e, :, None]).add_(rel_w[:, :, s:e, None, :])
        attn = attn.view(b, heads, e - s, n).softmax(dim=-1)
        out[:, :, s:e] = torch.matmul(attn, v)
    return out


ATTEND = {"folded": attend_folded, "masked": attend_masked, "blockwise": attend_blockwise, "dense": attend_dense}


@functools.lru_cache(maxsize=8)
def _indicators_cpu(h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    ky = torch.arange(h).repeat_interleave(w)
    kx = torch.arange(w).repeat(h)
    ind = torch.zeros(h * w, h + w, dtype=dtype)
    ind[torch.arange(h * w), ky] = 1
    ind[torch.arange(h * w), h + kx] = 1
    return ind


def key_indicators(hw: tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """H*W x (H + W) one-hot rows: key j=(ky,kx) has a 1 at column ky and at column H + kx."""
    ind = _indicators_cpu(int(hw[0]), int(hw[1]), dtype)
    return ind if device.type == "cpu" else ind.to(device)


def choose_kernel(dtype: torch.dtype, device: torch.device) -> str:
    """The kernel for this dtype and device: SAMKIT_RELPOS_KERNEL if set, else by CPU kind.

    The rules come from measurements (docs/benchmarks.md, `benchmarks/bench_cpu_paths.py`):
    bf16 with AMX -> folded; bf16 without AMX -> blockwise; fp32 -> masked. On GPUs the fused
    mask-free kernel wins, so folded.
    """
    forced = os.environ.get("SAMKIT_RELPOS_KERNEL", "").strip()
    if forced:
        if forced not in KERNELS:
            raise ValueError(f"SAMKIT_RELPOS_KERNEL={forced!r}; expected one of {', '.join(KERNELS)}")
        return forced
    if device.type != "cpu":
        return "folded"
    if dtype == torch.bfloat16:
        return "folded" if cpu_features().has_amx else "blockwise"
    return "masked"
