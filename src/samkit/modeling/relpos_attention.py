"""Multi-head self-attention over a 2-D token grid with decomposed relative positions (ViTDet / SAM).

The decomposed bias of query i=(qy,qx) on key j=(ky,kx) is  Rh[i, ky] + Rw[i, kx]  where
Rh[i, ky] = q_i . rel_pos_h[qy - ky + K_h - 1]  (and likewise for width). The reference adds it to a
materialised N x N attention map (12 x 4096 x 4096 floats per global block). We never build that
map: samkit.modeling.relpos_kernels holds three exact ways to apply the bias (folded into the dot
product, a chunked SDPA mask, blockwise math) and picks the fastest for the dtype and CPU.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.fused_linear import fused_linear
from samkit.modeling.relpos_kernels import ATTEND, choose_kernel


def resized_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative-position table gathered per (query index, key index): q_size x k_size x C.

    rel_pos is (L x C); it is linearly interpolated when L != 2 * max(q_size, k_size) - 1 (a model
    run at another resolution than it was trained on), exactly like the official code.
    """
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != max_rel_dist:
        table = F.interpolate(rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1),
                              size=max_rel_dist, mode="linear")
        table = table.reshape(-1, max_rel_dist).permute(1, 0)
    else:
        table = rel_pos
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    relative = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return table[relative.long()]


def decomposed_rel_pos_bias(q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor,
                            hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-query bias rows. q: B x H*W x C (unscaled). Returns (B x H*W x H, B x H*W x W)."""
    h, w = hw
    b, _, c = q.shape
    r_q = q.reshape(b, h, w, c)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, resized_rel_pos(h, h, rel_pos_h))
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, resized_rel_pos(w, w, rel_pos_w))
    return rel_h.reshape(b, h * w, h), rel_w.reshape(b, h * w, w)


class RelPosAttention(nn.Module):
    """Attention of the ViT blocks. Input/output: B x H x W x dim (a window or the whole grid)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, use_rel_pos: bool = False,
                 input_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            if input_size is None:
                raise ValueError("input_size is required with relative positional embeddings")
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))
        # None: relpos_kernels.choose_kernel decides per call; or one of KERNELS to force a kernel.
        self.kernel: str | None = None

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """x: B x H x W x dim -> B x H x W x dim; `residual` (same shape) is added to the output
        (inside the output projection's matmul where the fused CPU kernel allows)."""
        b, h, w, _ = x.shape
        n = h * w
        # qkv: 3 x B x heads x N x C, strided views (SDPA's CPU kernels take them without copies)
        qkv = fused_linear(x, self.qkv).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if not self.use_rel_pos:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            c = q.shape[-1]
            rel_h, rel_w = decomposed_rel_pos_bias(
                q.reshape(b * self.num_heads, n, c), self.rel_pos_h.to(q.dtype), self.rel_pos_w.to(q.dtype), (h, w)
            )
            # Training keeps the folded form: "masked" writes its chunks in place (no autograd).
            kernel = self.kernel or ("folded" if torch.is_grad_enabled() else choose_kernel(q.dtype, q.device))
            out = ATTEND[kernel](q, k, v, rel_h.view(b, self.num_heads, n, h), rel_w.view(b, self.num_heads, n, w),
                                 self.scale)
        out = out.transpose(1, 2).reshape(b, h, w, -1)
        return fused_linear(out, self.proj, residual=residual)
