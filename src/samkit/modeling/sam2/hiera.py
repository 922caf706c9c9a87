"""SAM 2's Hiera trunk (Ryali et al. 2023, https://arxiv.org/abs/2306.00989, as hieradet in sam2).

A hierarchical ViT: a stride-4 patch embedding, then stages of MultiScaleBlocks. The first block of
each of the first `q_pool` stage transitions max-pools its queries by q_stride (halving H and W)
and multiplies the width by dim_mul and the heads by head_mul. Blocks attend within windows of the
stage's window_spec size, except the global_att_blocks, which attend over the whole map.

Input: B x 3 x S x S normalised image (S = 1024 for the official models).
Output: one B x C_i x H_i x W_i map per stage, highest resolution first (S/4, S/8, S/16, S/32 for
the official models); channel_list holds the C_i lowest resolution first, as FpnNeck expects.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.sam2.hiera_blocks import MultiScaleBlock, PatchEmbed


class Hiera(nn.Module):
    """Hiera trunk with windowed + background positional embedding (https://arxiv.org/abs/2311.05613).

    Keyword arguments, defaults and parameter names are the official sam2 Hiera's.
    """

    def __init__(
        self,
        embed_dim: int = 96,  # width of the first stage
        num_heads: int = 1,  # heads of the first stage
        drop_path_rate: float = 0.0,  # stochastic depth, linearly increasing over blocks
        q_pool: int = 3,  # number of stage transitions that pool queries
        q_stride: tuple[int, int] = (2, 2),  # downsampling at those transitions
        stages: tuple[int, ...] = (2, 3, 16, 3),  # blocks per stage
        dim_mul: float = 2.0,  # width factor at a stage transition
        head_mul: float = 2.0,  # heads factor at a stage transition
        window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14),
        window_spec: tuple[int, ...] = (8, 4, 14, 7),  # window size per stage
        global_att_blocks: tuple[int, ...] = (12, 16, 20),  # blocks with global attention
        weights_path: str | None = None,
        return_interm_layers: bool = True,  # return every stage's output, not only the last
    ) -> None:
        super().__init__()
        if len(stages) != len(window_spec):
            raise ValueError(f"stages {stages} and window_spec {window_spec} differ in length")
        self.window_spec = window_spec
        depth = sum(stages)
        self.q_stride = q_stride
        self.stage_ends = [sum(stages[:i]) - 1 for i in range(1, len(stages) + 1)]
        if not 0 <= q_pool <= len(self.stage_ends) - 1:
            raise ValueError(f"q_pool must be in [0, {len(self.stage_ends) - 1}], got {q_pool}")
        self.q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][:q_pool]
        self.return_interm_layers = return_interm_layers

        self.patch_embed = PatchEmbed(embed_dim=embed_dim)
        self.global_att_blocks = global_att_blocks
        # A coarse "background" embedding interpolated to the map size, plus one window-sized
        # embedding tiled over it (the first stage's window), as in "Window attention is bugged".
        self.window_pos_embed_bkg_spatial_size = window_pos_embed_bkg_spatial_size
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(
            torch.zeros(1, embed_dim, self.window_spec[0], self.window_spec[0]))

        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
        cur_stage = 1
        self.blocks = nn.ModuleList()
        for i in range(depth):
            dim_out = embed_dim
            # The window size lags the stage by one block: a stage's first block still uses the
            # previous stage's window (its queries are pooled into the new, smaller grid).
            window_size = self.window_spec[cur_stage - 1]
            if self.global_att_blocks is not None:
                window_size = 0 if i in self.global_att_blocks else window_size
            if i - 1 in self.stage_ends:
                dim_out = int(embed_dim * dim_mul)
                num_heads = int(num_heads * head_mul)
                cur_stage += 1
            block = MultiScaleBlock(
                dim=embed_dim,
                dim_out=dim_out,
                num_heads=num_heads,
                drop_path=dpr[i],
                q_stride=self.q_stride if i in self.q_pool_blocks else None,
                window_size=window_size,
            )
            embed_dim = dim_out
            self.blocks.append(block)

        self.channel_list = (
            [self.blocks[i].dim_out for i in self.stage_ends[::-1]]
            if return_interm_layers
            else [self.blocks[-1].dim_out]
        )
        self._pos_embed_cache: tuple[tuple, torch.Tensor] | None = None

        if weights_path is not None:
            # Same as the reference: a raw trunk state dict, loaded non-strictly.
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
            logging.info("loading Hiera %s", self.load_state_dict(state, strict=False))

    def _get_pos_embed(self, hw: tuple[int, int], dtype: torch.dtype | None = None) -> torch.Tensor:
        """1 x H x W x C: bicubic-resized background embedding + tiled window embedding."""
        h, w = hw
        # Cached when no gradient is needed: the embedding only depends on (H, W) and the two
        # parameters (their _version changes on any in-place update, e.g. load_state_dict).
        grad = torch.is_grad_enabled() and (self.pos_embed.requires_grad
                                            or self.pos_embed_window.requires_grad)
        key = (h, w, dtype, self.pos_embed._version, self.pos_embed_window._version,
               self.pos_embed.data_ptr(), self.pos_embed_window.data_ptr(), self.pos_embed.device)
        if not grad and self._pos_embed_cache is not None and self._pos_embed_cache[0] == key:
            return self._pos_embed_cache[1]
        window_embed = self.pos_embed_window
        pos_embed = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
        pos_embed = pos_embed + window_embed.tile(
            [x // y for x, y in zip(pos_embed.shape, window_embed.shape)])
        pos_embed = pos_embed.permute(0, 2, 3, 1)
        if dtype is not None:
            pos_embed = pos_embed.to(dtype)
        if not grad:
            pos_embed = pos_embed.detach().contiguous()
            self._pos_embed_cache = (key, pos_embed)
        return pos_embed

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """B x 3 x S x S -> list of B x C_i x H_i x W_i stage outputs, highest resolution first."""
        x = self.patch_embed(x)  # B x H x W x C
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not torch.is_grad_enabled():
            # Inference under CPU autocast: carry the residual stream in the autocast dtype, so
            # layer norms, adds and matmul inputs all move half the bytes and need no casts
            # (plain autocast would keep it fp32 and cast before every matmul).
            dtype = torch.get_autocast_dtype("cpu")
            x = x.to(dtype) + self._get_pos_embed(x.shape[1:3], dtype)
        else:
            x = x + self._get_pos_embed(x.shape[1:3])
        outputs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i == self.stage_ends[-1] or (i in self.stage_ends and self.return_interm_layers):
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs

    def get_layer_id(self, layer_name: str) -> int:
        """Layer index for layer-wise learning-rate decay (as in BEiT / the reference)."""
        num_layers = self.get_num_layers()
        if "rel_pos" in layer_name:
            return num_layers + 1
        if "pos_embed" in layer_name or "patch_embed" in layer_name:
            return 0
        if "blocks" in layer_name:
            return int(layer_name.split("blocks")[1].split(".")[1]) + 1
        return num_layers + 1

    def get_num_layers(self) -> int:
        return len(self.blocks)
