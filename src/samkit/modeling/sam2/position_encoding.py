"""Sine-cosine positional encodings of SAM 2's feature maps (DETR-style, normalised coordinates).

Same keyword arguments and numerics as the official sam2 PositionEmbeddingSine.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PositionEmbeddingSine(nn.Module):
    """B x C x H x W feature map -> B x num_pos_feats x H x W encoding of the cell positions.

    The first num_pos_feats/2 channels encode y, the rest x; within each half channels alternate
    sin/cos over geometrically spaced frequencies. With normalize, the cell index 1..H (1..W) is
    divided by H (W) and scaled to (0, scale], so the encoding does not depend on the map size.
    """

    def __init__(
        self,
        num_pos_feats: int,
        temperature: int = 10000,
        normalize: bool = True,
        scale: float | None = None,
        # The reference uses these only to pre-fill its cache on CUDA (for torch.compile);
        # accepted for drop-in compatibility, the cache fills on first use either way.
        warmup_cache: bool = True,
        image_size: int = 1024,
        strides: tuple[int, ...] = (4, 8, 16, 32),
    ) -> None:
        super().__init__()
        if num_pos_feats % 2 != 0:
            raise ValueError(f"num_pos_feats must be even, got {num_pos_feats}")
        self.num_pos_feats = num_pos_feats // 2
        self.temperature = temperature
        self.normalize = normalize
        if scale is not None and normalize is False:
            raise ValueError("normalize should be True if scale is passed")
        self.scale = 2 * math.pi if scale is None else scale
        # (H, W) -> num_pos_feats x H x W; the encoding depends only on the map size.
        self.cache: dict[tuple[int, int], torch.Tensor] = {}

    def _frequencies(self, device: torch.device) -> torch.Tensor:
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=device)
        return self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)

    def _encode_xy(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N normalised x and y in [0, 1] -> (N x F, N x F) encodings, F = num_pos_feats/2."""
        if len(x) != len(y) or x.ndim != 1 or y.ndim != 1:
            raise ValueError("x and y must be 1-D and of equal length")
        dim_t = self._frequencies(x.device)
        pos_x = (x * self.scale)[:, None] / dim_t
        pos_y = (y * self.scale)[:, None] / dim_t
        pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()), dim=2).flatten(1)
        pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()), dim=2).flatten(1)
        return pos_x, pos_y

    @torch.no_grad()
    def encode_boxes(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """N box centres (normalised) and sizes -> N x (2F + 2): [enc(y), enc(x), h, w]."""
        pos_x, pos_y = self._encode_xy(x, y)
        return torch.cat((pos_y, pos_x, h[:, None], w[:, None]), dim=1)

    encode = encode_boxes  # the reference's older name

    @torch.no_grad()
    def encode_points(self, x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """B x N normalised points and labels -> B x N x (2F + 1): [enc(y), enc(x), label]."""
        if not (x.shape == y.shape == labels.shape) or x.ndim != 2:
            raise ValueError("x, y and labels must all be B x N")
        b, n = x.shape
        pos_x, pos_y = self._encode_xy(x.flatten(), y.flatten())
        pos_x, pos_y = pos_x.reshape(b, n, -1), pos_y.reshape(b, n, -1)
        return torch.cat((pos_y, pos_x, labels[:, :, None]), dim=2)

    @torch.no_grad()
    def _pe(self, B: int, device: torch.device, *cache_key: int) -> torch.Tensor:
        H, W = cache_key
        if cache_key in self.cache:
            return self.cache[cache_key].to(device)[None].repeat(B, 1, 1, 1)
        y_embed = torch.arange(1, H + 1, dtype=torch.float32, device=device).view(1, -1, 1).expand(1, H, W)
        x_embed = torch.arange(1, W + 1, dtype=torch.float32, device=device).view(1, 1, -1).expand(1, H, W)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = self._frequencies(device)
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
        self.cache[cache_key] = pos[0]
        return pos.repeat(B, 1, 1, 1)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B x C x H x W -> B x num_pos_feats x H x W (fp32)."""
        return self._pe(x.shape[0], x.device, x.shape[-2], x.shape[-1])

    @torch.no_grad()
    def shared_encoding(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """forward(x).to(dtype) without copying: a B-expanded view of a cached tensor.

        The encoding only depends on the map size, so the image encoder returns the same cached
        tensor for every image instead of materialising up to 256 x 256 x 256 values per call.
        Treat the result as read-only (it is shared between calls).
        """
        h, w = x.shape[-2], x.shape[-1]
        key = ("shared", h, w, dtype, x.device)
        enc = self.cache.get(key)
        if enc is None:
            enc = self._pe(1, x.device, h, w)[0].to(dtype).contiguous()
            self.cache[key] = enc
        return enc[None].expand(x.shape[0], -1, -1, -1)
