"""MobileSAM's TinyViT image encoder (SAM preset vit_t), loading mobile_sam.pt's `image_encoder.*` unchanged.

Input: B x 3 x S x S normalised, zero-padded images (S = img_size, 1024 for vit_t).
Output: B x out_chans x S/16 x S/16 image embedding (256 x 64 x 64 for vit_t).

Structure (vit_t numbers at S = 1024):
  patch_embed   two stride-2 3x3 Conv2dBN with GELU between      3 -> 64 ch, 256 x 256
  layers.0      MBConv blocks, then PatchMerging (stride 2)           -> 128 ch, 128 x 128
  layers.1      TinyViT blocks (window 7), PatchMerging (stride 2)    -> 160 ch,  64 x 64
  layers.2      TinyViT blocks (window 14), PatchMerging (stride 1)   -> 320 ch,  64 x 64
  layers.3      TinyViT blocks (window 7)
  neck          1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d          -> 256 ch,  64 x 64
"""

from __future__ import annotations

import torch
from torch import nn

from samkit.config import TinyViTEncoderConfig
from samkit.modeling.layers import LayerNorm2d
from samkit.modeling.tiny_vit_blocks import Conv2dBN, MBConv, PatchMerging, TinyViTBlock


class ConvStem(nn.Module):
    """B x 3 x S x S -> B x dim x S/4 x S/4 (keys `seq.0`, `seq.2`; `seq.1` is the GELU)."""

    def __init__(self, in_chans: int, dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            Conv2dBN(in_chans, dim // 2, kernel_size=3, stride=2, padding=1),
            nn.GELU(),
            Conv2dBN(dim // 2, dim, kernel_size=3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class TinyViTStage(nn.Module):
    """One stage: `blocks` (MBConv or TinyViT blocks), then an optional PatchMerging `downsample`.

    Takes and returns B x C x H x W. MBConv blocks run on that layout; TinyViT blocks run on a
    channels-last view of it.
    """

    def __init__(self, blocks: list[nn.Module], downsample: PatchMerging | None, channels_last_blocks: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample
        self.channels_last_blocks = channels_last_blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last_blocks:
            x = x.permute(0, 2, 3, 1)
            for block in self.blocks:
                x = block(x)
            x = x.permute(0, 3, 1, 2)
        else:
            for block in self.blocks:
                x = block(x)
        return x if self.downsample is None else self.downsample(x)


class TinyViT(nn.Module):
    """TinyViT backbone + SAM neck, built from a TinyViTEncoderConfig.

    `norm_head` and `head` (TinyViT's ImageNet classifier) are kept only so mobile_sam.pt loads with
    a strict key check; forward never uses them and they are frozen (requires_grad False), so
    optimizers and DistributedDataParallel do not see unused trainable parameters.
    """

    def __init__(self, cfg: TinyViTEncoderConfig) -> None:
        super().__init__()
        _check_config(cfg)
        self.config = cfg
        self.img_size = cfg.img_size
        dims = cfg.embed_dims
        n = len(dims)
        self.patch_embed = ConvStem(3, dims[0])
        self.layers = nn.ModuleList()
        for i in range(n):
            downsample = PatchMerging(dims[i], dims[i + 1], cfg.downsample_strides[i]) if i < n - 1 else None
            if i == 0:
                blocks = [MBConv(dims[0], cfg.mbconv_expand_ratio) for _ in range(cfg.depths[0])]
            else:
                blocks = [TinyViTBlock(dims[i], cfg.num_heads[i], cfg.window_sizes[i], cfg.mlp_ratio,
                                       cfg.local_conv_size) for _ in range(cfg.depths[i])]
            self.layers.append(TinyViTStage(blocks, downsample, channels_last_blocks=i > 0))
        self.norm_head = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.apply(_init_weights)
        self.norm_head.requires_grad_(False)
        self.head.requires_grad_(False)
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], cfg.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(cfg.out_chans),
            nn.Conv2d(cfg.out_chans, cfg.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(cfg.out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B x 3 x S x S (normalised, padded) -> B x out_chans x S/16 x S/16."""
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"TinyViT expects B x 3 x {self.img_size} x {self.img_size} input, got {tuple(x.shape)}")
        # Channels-last throughout: oneDNN's convolutions (depthwise above all) run ~2x faster on
        # it, and the attention stages' B x H x W x C view of it is then free, not a copy.
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        for layer in self.layers:
            x = layer(x)
        return self.neck(x).contiguous()


def _init_weights(m: nn.Module) -> None:
    # TinyViT's initialisation: truncated-normal linear weights, zero biases, unit LayerNorms.
    # Conv2dBN sets its own BatchNorm init; attention biases start at zero.
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _check_config(cfg: TinyViTEncoderConfig) -> None:
    n = len(cfg.embed_dims)
    for name in ("depths", "num_heads", "window_sizes"):
        if len(getattr(cfg, name)) != n:
            raise ValueError(f"TinyViTEncoderConfig.{name} has {len(getattr(cfg, name))} entries, "
                             f"embed_dims has {n}; give one per stage")
    if len(cfg.downsample_strides) != n - 1:
        raise ValueError(f"TinyViTEncoderConfig.downsample_strides needs {n - 1} entries (one per stage "
                         f"but the last), got {cfg.downsample_strides}")
    for i in range(1, n):
        if cfg.embed_dims[i] % cfg.num_heads[i]:
            raise ValueError(f"TinyViT stage {i}: embed_dim {cfg.embed_dims[i]} is not divisible by "
                             f"num_heads {cfg.num_heads[i]}")
    side = cfg.img_size
    for stride in (2, 2, *cfg.downsample_strides):
        if side % stride:
            raise ValueError(f"TinyViT img_size {cfg.img_size} is not divisible by the total downsampling")
        side //= stride
