"""SAM 2's memory encoder: a frame's mask (probabilities, image resolution) is downsampled to the
image-embedding grid, added to the frame's projected image features, mixed by ConvNeXt blocks and
projected to the memory width (64 channels in the official models).

Shapes: pix_feat B x in_dim x h x w (stride 16); masks B x 1 x 16h x 16w; memories B x out_dim x h x w.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.layers import DropPath, LayerNorm2d


class MaskDownSampler(nn.Module):
    """Downsample a mask by `total_stride` in steps of `stride` (conv, LayerNorm2d, activation each,
    channels growing by stride^2 per step), then project to embed_dim with a 1x1 conv."""

    def __init__(self, embed_dim: int = 256, kernel_size: int = 4, stride: int = 4, padding: int = 0,
                 total_stride: int = 16, activation: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        num_layers = int(math.log2(total_stride) // math.log2(stride))
        if stride**num_layers != total_stride:
            raise ValueError(f"total_stride={total_stride} must be a power of stride={stride}")
        self.encoder = nn.Sequential()
        in_chans = out_chans = 1
        for _ in range(num_layers):
            out_chans = in_chans * stride**2
            self.encoder.append(nn.Conv2d(in_chans, out_chans, kernel_size=kernel_size, stride=stride,
                                          padding=padding))
            self.encoder.append(LayerNorm2d(out_chans))
            self.encoder.append(activation())
            in_chans = out_chans
        self.encoder.append(nn.Conv2d(out_chans, embed_dim, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B x 1 x H x W -> B x embed_dim x H/total_stride x W/total_stride."""
        return self.encoder(x)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise conv, LayerNorm over channels, pointwise MLP (as Linear layers on
    channels-last tokens), layer scale `gamma`, residual."""

    def __init__(self, dim: int, kernel_size: int = 7, padding: int = 3, drop_path: float = 0.0,
                 layer_scale_init_value: float = 1e-6, use_dwconv: bool = True) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel_size, padding=padding,
                                groups=dim if use_dwconv else 1)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = (nn.Parameter(layer_scale_init_value * torch.ones(dim))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B x C x H x W -> B x C x H x W."""
        y = self.dwconv(x).permute(0, 2, 3, 1)  # channels last
        # LayerNorm2d normalises over channels: on channels-last data that is a plain layer_norm.
        y = F.layer_norm(y, (y.shape[-1],), self.norm.weight, self.norm.bias, self.norm.eps)
        y = self.pwconv2(self.act(self.pwconv1(y)))
        if self.gamma is not None:
            y = self.gamma * y
        return x + self.drop_path(y.permute(0, 3, 1, 2))


class Fuser(nn.Module):
    """An optional 1x1 input projection then `num_layers` copies of `layer` (CXBlocks)."""

    def __init__(self, layer: nn.Module, num_layers: int, dim: int | None = None,
                 input_projection: bool = False) -> None:
        super().__init__()
        self.proj = nn.Identity()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        if input_projection:
            if dim is None:
                raise ValueError("Fuser(input_projection=True) needs dim")
            self.proj = nn.Conv2d(dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """Image features + mask -> memory features and their positional encoding."""

    def __init__(self, out_dim: int, mask_downsampler: nn.Module, fuser: nn.Module,
                 position_encoding: nn.Module, in_dim: int = 256) -> None:
        super().__init__()
        self.mask_downsampler = mask_downsampler
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = fuser
        self.position_encoding = position_encoding
        self.out_proj = nn.Identity()
        if out_dim != in_dim:
            self.out_proj = nn.Conv2d(in_dim, out_dim, kernel_size=1)

    def forward(self, pix_feat: torch.Tensor, masks: torch.Tensor,
                skip_mask_sigmoid: bool = False) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """pix_feat: B x in_dim x h x w; masks: B x 1 x 16h x 16w logits (probabilities when
        skip_mask_sigmoid). Returns {"vision_features": B x out_dim x h x w, "vision_pos_enc": [pos]}."""
        if not skip_mask_sigmoid:
            masks = torch.sigmoid(masks)  # logits -> probabilities, closer to the binary training masks
        masks = self.mask_downsampler(masks)
        x = self.pix_feat_proj(pix_feat.to(masks.device)) + masks
        x = self.out_proj(self.fuser(x))
        pos = self.position_encoding(x).to(x.dtype)
        return {"vision_features": x, "vision_pos_enc": [pos]}
