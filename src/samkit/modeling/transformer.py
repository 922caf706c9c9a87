"""SAM's two-way transformer: prompt tokens and image tokens attend to each other.

Shapes: image tokens B x (h*w) x C, prompt/output tokens B x T x C.

SAM 2's decoder uses the same transformer; only its token MLP's parameters are named differently
(`mlp.layers.0/1` instead of SAM 1's `mlp.lin1/lin2`), chosen by `mlp_layout`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.layers import MLP, MLPBlock

MLP_LAYOUTS = ("sam", "sam2")  # token MLP keys: lin1/lin2 (SAM 1) or layers.0/layers.1 (SAM 2)


class Attention(nn.Module):
    """Multi-head attention whose q/k/v projections may shrink the width by `downsample_rate`.

    kv_in_dim: width of the key/value inputs when it differs from the queries' (SAM 2's memory
    attention reads 64-channel memories); dropout: attention dropout, applied in training only.
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1, dropout: float = 0.0,
                 kv_in_dim: int | None = None) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.kv_in_dim = kv_in_dim if kv_in_dim is not None else embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide internal_dim={self.internal_dim}")
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.v_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)
        self.dropout_p = dropout

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(self.q_proj(q)), self._heads(self.k_proj(k)), self._heads(self.v_proj(v))
        return self._attend(q, k, v)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q, k, v: B x heads x N x C/heads (projected) -> B x Nq x embedding_dim."""
        if self.training and self.dropout_p > 0.0:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout_p)
        else:
            out = F.scaled_dot_product_attention(q, k, v)  # B x heads x Nq x C/heads
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.internal_dim))


class TwoWayAttentionBlock(nn.Module):
    """Self-attn on tokens, tokens->image cross-attn, token MLP, image->tokens cross-attn."""

    def __init__(self, embedding_dim: int, num_heads: int, mlp_dim: int, attention_downsample_rate: int,
                 skip_first_layer_pe: bool, mlp_layout: str = "sam") -> None:
        super().__init__()
        if mlp_layout not in MLP_LAYOUTS:
            raise ValueError(f"mlp_layout must be one of {MLP_LAYOUTS}, got {mlp_layout!r}")
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.norm2 = nn.LayerNorm(embedding_dim)
        # Both layouts compute lin -> ReLU -> lin; only the parameter names differ.
        if mlp_layout == "sam":
            self.mlp = MLPBlock(embedding_dim, mlp_dim, nn.ReLU)
        else:
            self.mlp = MLP(embedding_dim, mlp_dim, embedding_dim, num_layers=2)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor,
                key_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q=q, k=q, v=queries)
        queries = self.norm1(queries)

        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q=q, k=k, v=keys))
        queries = self.norm3(queries + self.mlp(queries))

        q, k = queries + query_pe, keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(q=k, k=q, v=queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """`depth` two-way blocks then a final token->image attention.

    mlp_layout: "sam" (SAM 1 checkpoints, `mlp.lin1/lin2`) or "sam2" (SAM 2, `mlp.layers.0/1`).
    """

    def __init__(self, depth: int, embedding_dim: int, num_heads: int, mlp_dim: int,
                 attention_downsample_rate: int = 2, *, mlp_layout: str = "sam") -> None:
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(embedding_dim, num_heads, mlp_dim, attention_downsample_rate,
                                 skip_first_layer_pe=(i == 0), mlp_layout=mlp_layout)
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(self, image_embedding: torch.Tensor, image_pe: torch.Tensor,
                point_embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image_embedding, image_pe: B x C x h x w; point_embedding: B x T x C.

        Returns (tokens B x T x C, image tokens B x h*w x C).
        """
        keys = image_embedding.flatten(2).transpose(1, 2)
        # Contiguous token-major PE: adding a transposed (strided) view to the keys costs ~30x more than
        # a contiguous add, and it is added 7 times per forward.
        key_pe = image_pe.flatten(2).transpose(1, 2).contiguous()
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries=queries, keys=keys, query_pe=point_embedding, key_pe=key_pe)
        q, k = queries + point_embedding, keys + key_pe
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(q=q, k=k, v=keys))
        return queries, keys
