"""SAM's ViT image encoder (ViTDet backbone): windowed + global attention blocks, then a neck.

Input: B x 3 x S x S normalised, zero-padded images (S = img_size, 1024 for the official presets).
Output: B x out_chans x S/16 x S/16 image embedding (256 x 64 x 64 for the official presets).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from samkit.config import ViTEncoderConfig
from samkit.modeling.fused_linear import fused_linear
from samkit.modeling.layers import LayerNorm2d, MLPBlock
from samkit.modeling.relpos_attention import RelPosAttention


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """B x H x W x C -> (B*nW) x window x window x C, zero-padding H and W up to multiples of window."""
    b, h, w, c = x.shape
    pad_h, pad_w = (window - h % window) % window, (window - w % window) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(windows: torch.Tensor, window: int, padded_hw: tuple[int, int],
                       hw: tuple[int, int]) -> torch.Tensor:
    """Inverse of window_partition: (B*nW) x window x window x C -> B x H x W x C."""
    hp, wp = padded_hw
    h, w = hw
    b = windows.shape[0] // ((hp // window) * (wp // window))
    x = windows.view(b, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, :h, :w, :] if (hp > h or wp > w) else x


def add_unpartitioned(shortcut: torch.Tensor, windows: torch.Tensor, window_size: int,
                      pad_hw: tuple[int, int]) -> torch.Tensor:
    """shortcut + window_unpartition(windows, ...), B x H x W x C, with one pass over memory.

    Without padding the windows are added through a strided 6-D view, so the un-permuting copy
    that window_unpartition makes is fused into the residual add.
    """
    b, h, w, c = shortcut.shape
    if pad_hw != (h, w):
        return shortcut + window_unpartition(windows, window_size, pad_hw, (h, w))
    nh, nw = h // window_size, w // window_size
    x = windows.view(b, nh, nw, window_size, window_size, c).permute(0, 1, 3, 2, 4, 5)
    return (shortcut.reshape(b, nh, window_size, nw, window_size, c) + x).view(b, h, w, c)


class Block(nn.Module):
    """Pre-norm transformer block; window_size 0 means global attention over the whole grid."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, use_rel_pos: bool,
                 window_size: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.norm1 = norm(dim)
        self.attn = RelPosAttention(
            dim, num_heads=num_heads, qkv_bias=True, use_rel_pos=use_rel_pos,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.norm2 = norm(dim)
        self.mlp = MLPBlock(dim, int(dim * mlp_ratio), act=nn.GELU)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            x, padded_hw = window_partition(x, self.window_size)
            x = add_unpartitioned(shortcut, self.attn(x), self.window_size, padded_hw)
        else:
            x = self.attn(x, residual=shortcut)
        act = self.mlp.act
        if type(act) is nn.GELU and act.approximate == "none":
            # lin1 + GELU and lin2 + residual each one matmul on CPU (plain ops elsewhere / with grad)
            hidden = fused_linear(self.norm2(x), self.mlp.lin1, gelu=True)
            return fused_linear(hidden, self.mlp.lin2, residual=x)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection: B x 3 x S x S -> B x S/p x S/p x dim (channels last)."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class ImageEncoderViT(nn.Module):
    def __init__(self, cfg: ViTEncoderConfig) -> None:
        super().__init__()
        self.config = cfg
        self.img_size = cfg.img_size
        grid = cfg.img_size // cfg.patch_size
        self.patch_embed = PatchEmbed(cfg.patch_size, 3, cfg.embed_dim)
        self.pos_embed: nn.Parameter | None = None
        if cfg.use_abs_pos:
            self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, cfg.embed_dim))
        self.carry_autocast_dtype = True  # False: plain autocast (the residual stream stays fp32)
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, cfg.use_rel_pos,
                  0 if i in cfg.global_attn_indexes else cfg.window_size, (grid, grid))
            for i in range(cfg.depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(cfg.embed_dim, cfg.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(cfg.out_chans),
            nn.Conv2d(cfg.out_chans, cfg.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(cfg.out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B x 3 x S x S (normalised, padded) -> B x out_chans x S/16 x S/16."""
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        if self.carry_autocast_dtype and x.device.type == "cpu" and torch.is_autocast_enabled("cpu") \
                and not torch.is_grad_enabled():
            # Inference under CPU autocast: carry the residual stream in the autocast dtype (as
            # SAM 2's Hiera does), so norms, adds and matmul inputs move half the bytes and need no
            # casts; plain autocast keeps it fp32 and casts before every matmul (~30% of the time).
            x = x.to(torch.get_autocast_dtype("cpu"))
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))
