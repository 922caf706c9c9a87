"""SAM 2's image encoder: a multi-scale trunk (Hiera) followed by an FPN neck.

Input: B x 3 x S x S normalised image. Output dict, the reference's layout:
  "backbone_fpn":    list of B x d_model x H_i x W_i maps, highest resolution first
                     (S/4, S/8, S/16 for the official models, scalp=1 drops S/32),
  "vision_features": the last (lowest resolution) of them,
  "vision_pos_enc":  the matching list of B x d_model x H_i x W_i sine position encodings.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.sam2.hiera_blocks import fused_dtype, fused_linear
from samkit.modeling.sam2.position_encoding import PositionEmbeddingSine


class ImageEncoder(nn.Module):
    """Trunk + neck; `scalp` drops that many of the lowest-resolution levels from the output."""

    def __init__(self, trunk: nn.Module, neck: nn.Module, scalp: int = 0) -> None:
        super().__init__()
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp
        if list(self.trunk.channel_list) != list(self.neck.backbone_channel_list):
            raise ValueError(
                f"Channel dims of trunk and neck do not match. Trunk: {self.trunk.channel_list}, "
                f"neck: {self.neck.backbone_channel_list}")

    def forward(self, sample: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        features, pos = self.neck(self.trunk(sample))
        if self.scalp > 0:
            features, pos = features[: -self.scalp], pos[: -self.scalp]
        return {"vision_features": features[-1], "vision_pos_enc": pos, "backbone_fpn": features}


class FpnNeck(nn.Module):
    """Feature pyramid neck without output convs: a lateral conv per trunk level, and top-down
    (upsampled coarser level added) only on the levels in fpn_top_down_levels.

    Input: the trunk's list of B x C_i x H_i x W_i maps, highest resolution first, with C_i given
    lowest resolution first in backbone_channel_list. Output: (features, position encodings), two
    lists of B x d_model x H_i x W_i, highest resolution first.
    """

    def __init__(
        self,
        position_encoding: nn.Module,
        d_model: int,
        backbone_channel_list: list[int],
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        fpn_interp_model: str = "bilinear",
        fuse_type: str = "sum",
        fpn_top_down_levels: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.position_encoding = position_encoding
        self.convs = nn.ModuleList()
        self.backbone_channel_list = backbone_channel_list
        self.d_model = d_model
        for dim in backbone_channel_list:
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(dim, d_model, kernel_size=kernel_size,
                                                 stride=stride, padding=padding))
            self.convs.append(lateral)
        self.fpn_interp_model = fpn_interp_model
        if fuse_type not in ("sum", "avg"):
            raise ValueError(f"fuse_type must be 'sum' or 'avg', got {fuse_type!r}")
        self.fuse_type = fuse_type
        # Levels (0 = highest resolution) that receive top-down features; the others keep only
        # their lateral features. Default: all.
        if fpn_top_down_levels is None:
            fpn_top_down_levels = range(len(self.convs))
        self.fpn_top_down_levels = list(fpn_top_down_levels)

    def forward(self, xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        n = len(self.convs) - 1
        if len(xs) != n + 1:
            raise ValueError(f"expected {n + 1} trunk levels, got {len(xs)}")
        out: list[torch.Tensor] = [None] * (n + 1)  # type: ignore[list-item]
        pos: list[torch.Tensor] = [None] * (n + 1)  # type: ignore[list-item]
        prev = None
        # Top-down: from the lowest resolution (last) to the highest (first).
        for i in range(n, -1, -1):
            lateral = self._lateral(n - i, xs[i])
            if i in self.fpn_top_down_levels and prev is not None:
                # The reference upsamples in fp32 (also under autocast); kept for equal answers.
                top_down = F.interpolate(
                    prev.to(dtype=torch.float32), scale_factor=2.0, mode=self.fpn_interp_model,
                    align_corners=None if self.fpn_interp_model == "nearest" else False,
                    antialias=False)
                prev = lateral + top_down
                if self.fuse_type == "avg":
                    prev = prev / 2
            else:
                prev = lateral
            out[i] = prev
            if isinstance(self.position_encoding, PositionEmbeddingSine):
                pos[i] = self.position_encoding.shared_encoding(prev, prev.dtype)
            else:
                pos[i] = self.position_encoding(prev).to(prev.dtype)
        return out, pos

    def _lateral(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """convs[level](x) for a B x C x H x W map; B x d_model x H x W out.

        The trunk's maps are channels-last views (B x H x W x C memory). A 1x1 lateral conv is then
        one matmul over the channel axis, run on that memory directly: no layout conversion, and
        the bias is fused. Other convs (or other layouts) take the plain Conv2d path.
        """
        conv = self.convs[level].conv
        plain_1x1 = (conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0)
                     and conv.groups == 1 and conv.dilation == (1, 1))
        nhwc = x.permute(0, 2, 3, 1)
        if plain_1x1 and nhwc.is_contiguous() and fused_dtype(x) is not None:
            return fused_linear(nhwc, conv).permute(0, 3, 1, 2)
        return self.convs[level](x)
