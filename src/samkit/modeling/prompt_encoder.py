"""Prompt encoder: points/boxes -> sparse tokens, mask logits -> dense embedding.

Coordinates arrive in the model-input frame (pixels of the resized, padded img_size x img_size image).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from samkit.modeling.layers import LayerNorm2d

NUM_POINT_EMBEDDINGS = 4  # background point, foreground point, box top-left, box bottom-right


class PositionEmbeddingRandom(nn.Module):
    """Random-Fourier positional encoding of coordinates normalised to [0, 1]."""

    def __init__(self, num_pos_feats: int = 64, scale: float | None = None) -> None:
        super().__init__()
        scale = 1.0 if scale is None or scale <= 0.0 else scale
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats)))

    def _pe_encoding(self, coords01: torch.Tensor) -> torch.Tensor:
        coords = (2 * coords01 - 1) @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size_hw: tuple[int, int]) -> torch.Tensor:
        """Encoding of every cell centre of an h x w grid: C x h x w."""
        h, w = size_hw
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # h x w x (x, y)
        return self._pe_encoding(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords_xy: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        """coords_xy: B x N x 2 pixels in an image of size image_hw -> B x N x C."""
        size_wh = torch.tensor([float(image_hw[1]), float(image_hw[0])], device=coords_xy.device)
        return self._pe_encoding(coords_xy.to(torch.float32) / size_wh)


class PromptEncoder(nn.Module):
    def __init__(self, embed_dim: int, image_embedding_size: tuple[int, int],
                 input_image_size: tuple[int, int], mask_in_chans: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = input_image_size
        self.image_embedding_size = image_embedding_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.num_point_embeddings = NUM_POINT_EMBEDDINGS
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(NUM_POINT_EMBEDDINGS))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of the image-embedding grid: 1 x C x h x w."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def _embed_points(self, points_xy: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        points_xy = points_xy + 0.5  # pixel index -> pixel centre
        if pad:  # a "not a point" token stands in for the absent box, as in training
            points_xy = torch.cat([points_xy, points_xy.new_zeros(points_xy.shape[0], 1, 2)], dim=1)
            labels = torch.cat([labels, -labels.new_ones(labels.shape[0], 1)], dim=1)
        emb = self.pe_layer.forward_with_coords(points_xy, self.input_image_size)
        labels = labels[..., None]
        # Written with torch.where (not in-place masked writes) so the graph stays differentiable
        # and exportable; the arithmetic is identical to the official code.
        emb = torch.where(labels == -1, self.not_a_point_embed.weight, emb)
        # Labels 0/1 are background/foreground points; 2/3 are box corners given as points (the
        # official ONNX model's convention), which get the box-corner embeddings.
        for kind in range(NUM_POINT_EMBEDDINGS):
            emb = emb + torch.where(labels == kind, self.point_embeddings[kind].weight, 0.0)
        return emb

    def _embed_boxes(self, boxes_xyxy: torch.Tensor) -> torch.Tensor:
        corners = (boxes_xyxy + 0.5).reshape(-1, 2, 2)
        emb = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        corner_kind = torch.stack([self.point_embeddings[2].weight[0], self.point_embeddings[3].weight[0]])
        return emb + corner_kind

    def _batch_size(self, points, boxes, masks) -> int:
        if points is not None:
            return points[0].shape[0]
        if boxes is not None:
            return boxes.shape[0]
        if masks is not None:
            return masks.shape[0]
        return 1

    def forward(self, points: tuple[torch.Tensor, torch.Tensor] | None, boxes: torch.Tensor | None,
                masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """points: (B x N x 2 xy, B x N labels); boxes: B x 4 xyxy; masks: B x 1 x 4h x 4w logits.

        Returns sparse B x T x C tokens and dense B x C x h x w embeddings.
        """
        bs = self._batch_size(points, boxes, masks)
        device = self.point_embeddings[0].weight.device
        sparse = torch.empty((bs, 0, self.embed_dim), device=device)
        if points is not None:
            coords, labels = points
            sparse = torch.cat([sparse, self._embed_points(coords, labels, pad=boxes is None)], dim=1)
        if boxes is not None:
            sparse = torch.cat([sparse, self._embed_boxes(boxes)], dim=1)
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(bs, -1, h, w)
        return sparse, dense
