"""Initialisation for training from scratch (no checkpoint).

SAM's encoder is an MAE-pretrained ViT, and MAE fixes its absolute position embedding to a 2-D
sine-cosine table. samkit's modules zero-initialise `pos_embed` (right when a checkpoint is
loaded over them), but from scratch a zero table leaves the image embedding without any notion of
position, so the decoder cannot localise a mask around a click and training stalls on degenerate
all-or-nothing masks. We start `pos_embed` from MAE's sine-cosine table instead (still trainable).
"""

from __future__ import annotations

import torch


def sincos_2d(embed_dim: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """grid_h x grid_w x embed_dim table: half the channels encode y, half x, each as
    [sin(p * w_k), cos(p * w_k)] with w_k = 1 / 10000^(k / (D/4)) (MAE's get_2d_sincos_pos_embed)."""
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be divisible by 4, got {embed_dim}")
    quarter = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    ys = torch.arange(grid_h, dtype=torch.float64)[:, None] * omega[None]  # H x D/4
    xs = torch.arange(grid_w, dtype=torch.float64)[:, None] * omega[None]  # W x D/4
    emb_y = torch.cat([ys.sin(), ys.cos()], dim=1)[:, None, :].expand(grid_h, grid_w, 2 * quarter)
    emb_x = torch.cat([xs.sin(), xs.cos()], dim=1)[None, :, :].expand(grid_h, grid_w, 2 * quarter)
    return torch.cat([emb_y, emb_x], dim=2).float()


@torch.no_grad()
def init_for_scratch_training(sam) -> None:
    """Give a freshly built Sam's ViT encoder MAE's sine-cosine position embedding."""
    pos = getattr(sam.image_encoder, "pos_embed", None)
    if pos is None:
        return  # TinyViT and encoders without an absolute table: nothing to do
    _, h, w, d = pos.shape
    pos.copy_(sincos_2d(d, h, w)[None])
