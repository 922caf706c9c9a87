"""Building blocks of MobileSAM's TinyViT encoder (attribute names match the keys of mobile_sam.pt).

Layouts: convolutional parts take and return B x C x H x W; the attention blocks take and return
channels-last B x H x W x C token grids.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.image_encoder import window_partition, window_unpartition


class Conv2dBN(nn.Sequential):
    """Conv2d without bias followed by BatchNorm2d (keys `c.*`, `bn.*` as in the official Conv2d_BN).

    bn_weight_init 0 makes a residual branch start as the identity (MBConv's last conv).
    """

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int = 1, stride: int = 1, padding: int = 0,
                 groups: int = 1, bn_weight_init: float = 1.0) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_chans))
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.bn(self.c(x))  # batch statistics, running-stat updates
        # Eval: BatchNorm is an affine map per channel, folded into the conv (one pass over the
        # activations instead of two). Differentiable, recomputed per call (weights are small).
        bn, c = self.bn, self.c
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        weight = c.weight * scale.view(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale
        return F.conv2d(x, weight, bias, c.stride, c.padding, c.dilation, c.groups)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, + input, GELU. B x C x H x W -> same."""

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = Conv2dBN(dim, hidden)
        self.conv2 = Conv2dBN(hidden, hidden, kernel_size=3, padding=1, groups=hidden)
        self.conv3 = Conv2dBN(hidden, dim, bn_weight_init=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.conv1(x))
        y = F.gelu(self.conv2(y))
        return F.gelu(x + self.conv3(y))


class PatchMerging(nn.Module):
    """1x1 conv to out_dim, 3x3 depthwise conv with `stride`, 1x1 conv. B x C x H x W -> B x C' x H/s x W/s."""

    def __init__(self, dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.conv1 = Conv2dBN(dim, out_dim)
        self.conv2 = Conv2dBN(out_dim, out_dim, kernel_size=3, stride=stride, padding=1, groups=out_dim)
        self.conv3 = Conv2dBN(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv1(x))
        x = F.gelu(self.conv2(x))
        return self.conv3(x)


def window_offset_index(window_size: int) -> torch.Tensor:
    """(w*w) x (w*w) index of the learned bias for each (query, key) pair of a w x w window.

    The bias depends only on the absolute offset (|dy|, |dx|) between the two tokens, stored at
    |dy| * w + |dx| — the order in which the official code first meets the offsets (scanning keys
    from the window's top-left query), so `attention_biases` tables load unchanged.
    """
    ys, xs = torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = (ys[:, None] - ys[None, :]).abs()
    dx = (xs[:, None] - xs[None, :]).abs()
    return dy * window_size + dx


class WindowAttention(nn.Module):
    """LayerNorm + multi-head self-attention inside one window, with a learned per-offset bias.

    Input and output: N x T x C (N windows of T = window_size**2 tokens). The bias is a small
    heads x T x T table passed to scaled_dot_product_attention as an additive mask.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"TinyViT dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window_size * window_size))
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        # Derived from window_size, so not saved (the official buffer is non-persistent too).
        self.register_buffer("attention_bias_idxs", window_offset_index(window_size), persistent=False)
        self._bias_cache: tuple[tuple, torch.Tensor] | None = None

    def train(self, mode: bool = True) -> "WindowAttention":
        self._bias_cache = None
        return super().train(mode)

    def attention_bias(self, dtype: torch.dtype) -> torch.Tensor:
        """1 x heads x T x T additive bias in `dtype` (SDPA wants the mask in the query's dtype).

        4-D on purpose: on CPU a 3-D mask sends SDPA to its slow math fallback (~4x slower here),
        while a 1 x heads x T x T mask broadcast over the windows takes the fused kernel.

        While the bias can receive gradients it is gathered afresh (cheap: a few hundred KB). In
        inference (eval mode, or no grad) it is cached and rebuilt only when the table changes
        (load_state_dict, an optimizer step, .to(device)): the key tracks its storage and version.
        """
        table = self.attention_biases
        if self.training or (torch.is_grad_enabled() and table.requires_grad):
            return table[:, self.attention_bias_idxs].to(dtype).unsqueeze(0)
        key = (table.device, table.data_ptr(), table._version, dtype)
        if self._bias_cache is None or self._bias_cache[0] != key:
            with torch.no_grad():
                self._bias_cache = (key, table[:, self.attention_bias_idxs].to(dtype).unsqueeze(0))
        return self._bias_cache[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        # The official qkv layout is per head: [q | k | v] of head_dim each, heads outermost.
        qkv = self.qkv(self.norm(x)).view(n, t, self.num_heads, 3, self.head_dim)
        q, k, v = qkv.permute(3, 0, 2, 1, 4).unbind(0)  # each N x heads x T x head_dim
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.attention_bias(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(n, t, c))


class TinyViTMlp(nn.Module):
    """LayerNorm, fc1, GELU, fc2 (the norm lives inside, as in the official `Mlp`). ... x C -> ... x C."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


class TinyViTBlock(nn.Module):
    """Windowed attention (+ residual), 3x3 depthwise conv, MLP (+ residual). B x H x W x C -> same.

    The grid is zero-padded bottom/right to a multiple of the window *before* the attention's
    LayerNorm, so padded tokens enter attention as the norm's bias vector, unmasked — exactly as in
    the official code (masking them would change the result near the bottom/right border).
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, mlp_ratio: float, local_conv_size: int) -> None:
        super().__init__()
        self.window_size = window_size
        self.attn = WindowAttention(dim, num_heads, window_size)
        self.mlp = TinyViTMlp(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2dBN(dim, dim, kernel_size=local_conv_size, padding=local_conv_size // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        ws = self.window_size
        windows, padded_hw = window_partition(x.contiguous(), ws)  # (B*nW) x ws x ws x C
        attn = self.attn(windows.view(-1, ws * ws, c)).view(-1, ws, ws, c)
        x = x + window_unpartition(attn, ws, padded_hw, (h, w))
        # The depthwise conv sees a channels-last tensor viewed as NCHW: no copy either way.
        x = self.local_conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.mlp(x)
