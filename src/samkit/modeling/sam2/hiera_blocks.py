"""Building blocks of SAM 2's Hiera trunk: windowing, patch embedding, (pooled) attention, blocks.

Tensors inside the trunk are channels last: B x H x W x C, H and W in feature-map cells.
Module and parameter names match the official sam2 package (backbones/hieradet.py and
backbones/utils.py), so its state dicts load strictly.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.fused_linear import _HAS_FUSED_LINEAR, fused_dtype, fused_linear  # noqa: F401  (shared with SAM 1)
from samkit.modeling.image_encoder import (  # noqa: F401  (SAM 1's, shared)
    add_unpartitioned,
    window_partition,
    window_unpartition,
)
from samkit.modeling.layers import DropPath


def _is_plain_max_pool(pool: nn.Module | None) -> bool:
    """A MaxPool2d whose windows tile the map (kernel == stride, no padding/dilation/ceil)."""
    return (isinstance(pool, nn.MaxPool2d) and pool.kernel_size == pool.stride and pool.padding in (0, (0, 0))
            and pool.dilation in (1, (1, 1)) and not pool.ceil_mode and not pool.return_indices)


def max_pool_channels_last(x: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
    """MaxPool2d on a (possibly strided) B x H x W x C map without permuting to B x C x H x W.

    Each output cell is the max of a non-overlapping kh x kw block: view the map as
    B x H/kh x kh x W/kw x kw x C and take elementwise maxima of the strided slices (a reduction
    over the split axes, amax, is several times slower on CPU). Rows and columns that do not fill
    a block are dropped, as ceil_mode=False does; NaNs propagate, as in MaxPool2d.
    """
    kh, kw = (pool.kernel_size, pool.kernel_size) if isinstance(pool.kernel_size, int) else pool.kernel_size
    b, h, w, c = x.shape
    x = x[:, : h // kh * kh, : w // kw * kw].reshape(b, h // kh, kh, w // kw, kw, c)
    rows = x[:, :, 0]
    for i in range(1, kh):
        rows = torch.maximum(rows, x[:, :, i])  # B x H/kh x W/kw x kw x C
    out = rows[:, :, :, 0]
    for j in range(1, kw):
        out = torch.maximum(out, rows[:, :, :, j])
    return out.contiguous()


def do_pool(x: torch.Tensor, pool: nn.Module | None, norm: nn.Module | None = None) -> torch.Tensor:
    """Apply a 2-D pooling module to a channels-last B x H x W x C map (None: identity)."""
    if pool is None:
        return x
    if _is_plain_max_pool(pool) and norm is None:
        return max_pool_channels_last(x, pool)
    x = pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    return norm(x) if norm else x


class PatchEmbed(nn.Module):
    """Overlapping patch projection: B x 3 x H x W image -> B x H/4 x W/4 x embed_dim (channels last)."""

    def __init__(self, kernel_size: tuple[int, ...] = (7, 7), stride: tuple[int, ...] = (4, 4),
                 padding: tuple[int, ...] = (3, 3), in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=kernel_size, stride=stride,
                              padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A channels-last input makes the conv write B x H x W x C memory, so the permute below is
        # a contiguous view; otherwise every later op would run on NCHW-strided tokens (elementwise
        # results keep that layout) and layer norms and matmuls would copy.
        return self.proj(x.contiguous(memory_format=torch.channels_last)).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention whose queries may be max-pooled (Hiera's stage transitions).

    Input B x H x W x dim; output B x H' x W' x dim_out, where H' x W' is the pooled query grid
    (H x W when q_pool is None). Keys and values always keep the full H x W grid.
    """

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_pool: nn.Module | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """x: B x H x W x dim -> B x H' x W' x dim_out; residual (B x H' x W' x dim_out) is added."""
        b, h, w, _ = x.shape
        heads = self.num_heads
        # (B, N, 3, heads, hd) viewed as 3 x B x heads x N x hd: SDPA's CPU kernels take the strided
        # views directly, so no q/k/v copies are made here.
        qkv = fused_linear(x, self.qkv).view(b, h * w, 3, heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.q_pool is not None:
            # Pool on the token grid with heads merged into channels (max-pooling is per channel);
            # qkv[:, :, 0] viewed as B x H x W x dim_out needs no copy.
            q = do_pool(qkv[:, :, 0].reshape(b, h, w, -1), self.q_pool)
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, heads, -1).transpose(1, 2)
        x = F.scaled_dot_product_attention(q, k, v)
        # B x heads x N x hd -> B x H x W x dim_out (free when the kernel's output is already
        # token-major, as the CPU flash kernel's is).
        x = x.transpose(1, 2).reshape(b, h, w, -1)
        if residual is not None:
            return fused_linear(x, self.proj, residual=residual)
        return fused_linear(x, self.proj)


class MLP(nn.Module):
    """Linear layers with an activation between them; names match sam2's MLP (layers.0, layers.1)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int,
                 activation: type[nn.Module] = nn.ReLU, sigmoid_output: bool = False) -> None:
        super().__init__()
        self.num_layers = num_layers
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))
        self.sigmoid_output = sigmoid_output
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = self.num_layers - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = self.act(x)
        return torch.sigmoid(x) if self.sigmoid_output else x


class MultiScaleBlock(nn.Module):
    """Pre-norm Hiera block: (windowed) attention with optional query pooling, then an MLP.

    Input B x H x W x dim -> output B x H/s x W/s x dim_out (s = q_stride, 1 when None).
    window_size 0 means global attention over the whole map.
    """

    def __init__(self, dim: int, dim_out: int, num_heads: int, mlp_ratio: float = 4.0,
                 drop_path: float = 0.0, norm_layer: nn.Module | str = "LayerNorm",
                 q_stride: tuple[int, int] | None = None, act_layer: type[nn.Module] = nn.GELU,
                 window_size: int = 0) -> None:
        super().__init__()
        if isinstance(norm_layer, str):
            norm_layer = partial(getattr(nn, norm_layer), eps=1e-6)
        self.dim = dim
        self.dim_out = dim_out
        self.norm1 = norm_layer(dim)
        self.window_size = window_size
        self.pool, self.q_stride = None, q_stride
        if self.q_stride:
            self.pool = nn.MaxPool2d(kernel_size=q_stride, stride=q_stride, ceil_mode=False)
        self.attn = MultiScaleAttention(dim, dim_out, num_heads=num_heads, q_pool=self.pool)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim_out)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, num_layers=2, activation=act_layer)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def _fusable_residual(self) -> bool:
        """Residual adds may be fused into the matmuls unless stochastic depth is active."""
        return isinstance(self.drop_path, nn.Identity) or not self.training

    def _fusable_mlp(self) -> bool:
        act = self.mlp.act
        return (self.mlp.num_layers == 2 and not self.mlp.sigmoid_output and type(act) is nn.GELU
                and act.approximate == "none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            # The residual changes width (and resolution) with the block: project, then pool.
            shortcut = do_pool(fused_linear(x, self.proj), self.pool)
        window_size = self.window_size
        fuse = self._fusable_residual()
        if window_size > 0:
            x, pad_hw = window_partition(x, window_size)
            x = self.attn(x)
            h, w = shortcut.shape[1:3]
            if self.q_stride:
                # Pooled queries shrink each window; the padded grid follows the pooled map.
                window_size = window_size // self.q_stride[0]
                pad_hw = (h + (window_size - h % window_size) % window_size,
                          w + (window_size - w % window_size) % window_size)
            x = add_unpartitioned(shortcut, self.drop_path(x), window_size, pad_hw)
        elif fuse and not self.q_stride:
            x = self.attn(x, residual=shortcut)
        else:
            x = shortcut + self.drop_path(self.attn(x))
        if fuse and self._fusable_mlp():
            hidden = fused_linear(self.norm2(x), self.mlp.layers[0], gelu=True)
            return fused_linear(hidden, self.mlp.layers[1], residual=x)
        return x + self.drop_path(self.mlp(self.norm2(x)))
