"""SAM 2's memory attention: the current frame's image tokens attend to themselves, then to the
memory bank (spatial memories of past frames and object-pointer tokens), with rotary positions.

Frames: memory attention works on flattened feature maps. `MemoryAttention.forward` takes them
sequence-first (HW x B x C), as SAM2Base keeps them; the layers run batch-first (B x HW x C).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.sam2.rope import apply_rotary_enc, compute_axial_cis
from samkit.modeling.transformer import Attention

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "glu": F.glu}


class RoPEAttention(Attention):
    """Attention with axial rotary position encoding of queries and keys.

    feat_sizes: (W, H) of the query grid the rotations are first built for; another square grid
    size is handled on the fly. rope_k_repeat: the keys are several grids' worth of tokens (one
    per memory frame), each rotated like the queries. In forward, the last `num_k_exclude_rope`
    keys (object pointers, which have no grid position) are left unrotated.
    """

    def __init__(self, *args, rope_theta: float = 10000.0, rope_k_repeat: bool = False,
                 feat_sizes: tuple[int, int] = (64, 64), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rope_theta = rope_theta
        self.rope_k_repeat = rope_k_repeat
        # A plain attribute, not a buffer: it is not in the checkpoints, and module.to(dtype) must
        # not cast the complex rotations to a real dtype.
        self.freqs_cis = self.compute_cis(end_x=feat_sizes[0], end_y=feat_sizes[1])

    def compute_cis(self, end_x: int, end_y: int) -> torch.Tensor:
        return compute_axial_cis(dim=self.internal_dim // self.num_heads, end_x=end_x, end_y=end_y,
                                 theta=self.rope_theta)

    def _freqs_for(self, num_tokens: int, device: torch.device) -> torch.Tensor:
        if self.freqs_cis.shape[0] != num_tokens:
            side = math.isqrt(num_tokens)
            if side * side != num_tokens:
                raise ValueError(f"RoPEAttention needs a square grid of query tokens, got {num_tokens}")
            self.freqs_cis = self.compute_cis(end_x=side, end_y=side)
        if self.freqs_cis.device != device:
            self.freqs_cis = self.freqs_cis.to(device)
        return self.freqs_cis

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                num_k_exclude_rope: int = 0) -> torch.Tensor:
        """q: B x Nq x C (a square grid, raster order); k, v: B x Nk x kv_in_dim -> B x Nq x C."""
        device_type = q.device.type
        if not torch.is_autocast_enabled(device_type):
            return self._attend(*self._rotated_heads(q, k, v, num_k_exclude_rope))
        # Under autocast (the bf16 fast path) only the attention itself runs in the low dtype: the
        # projections and rotations are cheap in fp32, and casting their large outputs back and
        # forth around the fp32 rotation cost more than the attention saved (measured on CPU).
        with torch.autocast(device_type, enabled=False):
            q, k, v = self._rotated_heads(q.float(), k.float(), v.float(), num_k_exclude_rope)
        low = torch.get_autocast_dtype(device_type)
        return self._attend(q.to(low), k.to(low), v.to(low))

    def _rotated_heads(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_k_exclude_rope: int):
        """Projected q, k, v split into heads (B x heads x N x C/heads), q and k rotated."""
        q, k, v = self._heads(self.q_proj(q)), self._heads(self.k_proj(k)), self._heads(self.v_proj(v))
        freqs_cis = self._freqs_for(q.shape[-2], q.device)
        if q.shape[-2] != k.shape[-2] and not self.rope_k_repeat:
            raise ValueError(f"{k.shape[-2]} keys for {q.shape[-2]} queries needs rope_k_repeat=True")
        num_k_rope = k.shape[-2] - num_k_exclude_rope
        q, k_rope = apply_rotary_enc(q, k[:, :, :num_k_rope], freqs_cis=freqs_cis,
                                     repeat_freqs_k=self.rope_k_repeat)
        if num_k_exclude_rope > 0:
            k = torch.cat([k_rope, k[:, :, num_k_rope:]], dim=2)
        else:
            k = k_rope
        return q, k, v


class MemoryAttentionLayer(nn.Module):
    """Pre-norm block: self-attention, cross-attention to the memories, feed-forward MLP.

    tgt: B x HW x d_model (current frame); memory: B x M x kv dim; pos / query_pos: positional
    encodings of memory / tgt, added where the pos_enc_at_* flags say.
    """

    def __init__(self, activation: str, cross_attention: nn.Module, d_model: int, dim_feedforward: int,
                 dropout: float, pos_enc_at_attn: bool, pos_enc_at_cross_attn_keys: bool,
                 pos_enc_at_cross_attn_queries: bool, self_attention: nn.Module) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation should be one of {sorted(_ACTIVATIONS)}, not {activation!r}")
        self.d_model = d_model
        self.dim_feedforward = dim_feedforward
        self.dropout_value = dropout
        self.self_attn = self_attention
        self.cross_attn_image = cross_attention
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation_str = activation
        self.activation = _ACTIVATIONS[activation]
        self.pos_enc_at_attn = pos_enc_at_attn
        self.pos_enc_at_cross_attn_queries = pos_enc_at_cross_attn_queries
        self.pos_enc_at_cross_attn_keys = pos_enc_at_cross_attn_keys

    def _forward_sa(self, tgt: torch.Tensor, query_pos: torch.Tensor | None) -> torch.Tensor:
        tgt2 = self.norm1(tgt)
        q = k = tgt2 + query_pos if self.pos_enc_at_attn else tgt2
        return tgt + self.dropout1(self.self_attn(q, k, v=tgt2))

    def _forward_ca(self, tgt: torch.Tensor, memory: torch.Tensor, query_pos: torch.Tensor | None,
                    pos: torch.Tensor | None, num_k_exclude_rope: int = 0) -> torch.Tensor:
        kwds = {}
        if num_k_exclude_rope > 0:
            if not isinstance(self.cross_attn_image, RoPEAttention):
                raise ValueError("num_k_exclude_rope needs a RoPEAttention cross-attention")
            kwds = {"num_k_exclude_rope": num_k_exclude_rope}
        tgt2 = self.norm2(tgt)
        tgt2 = self.cross_attn_image(
            q=tgt2 + query_pos if self.pos_enc_at_cross_attn_queries else tgt2,
            k=memory + pos if self.pos_enc_at_cross_attn_keys else memory,
            v=memory,
            **kwds,
        )
        return tgt + self.dropout2(tgt2)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor | None = None,
                query_pos: torch.Tensor | None = None, num_k_exclude_rope: int = 0) -> torch.Tensor:
        tgt = self._forward_sa(tgt, query_pos)
        tgt = self._forward_ca(tgt, memory, query_pos, pos, num_k_exclude_rope)
        tgt2 = self.linear2(self.dropout(self.activation(self.linear1(self.norm3(tgt)))))
        return tgt + self.dropout3(tgt2)


class MemoryAttention(nn.Module):
    """`num_layers` copies of `layer` and a final LayerNorm."""

    def __init__(self, d_model: int, pos_enc_at_input: bool, layer: nn.Module, num_layers: int,
                 batch_first: bool = True) -> None:
        super().__init__()
        self.d_model = d_model
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.norm = nn.LayerNorm(d_model)
        self.pos_enc_at_input = pos_enc_at_input
        self.batch_first = batch_first

    def forward(self, curr: torch.Tensor | list[torch.Tensor], memory: torch.Tensor,
                curr_pos: torch.Tensor | list[torch.Tensor] | None = None,
                memory_pos: torch.Tensor | None = None, num_obj_ptr_tokens: int = 0) -> torch.Tensor:
        """curr, curr_pos: HW x B x C (or one-element lists of them); memory, memory_pos: M x B x C_mem.

        The last `num_obj_ptr_tokens` memory tokens are object pointers (no RoPE). Returns HW x B x C.
        """
        if isinstance(curr, list):
            if not isinstance(curr_pos, list) or len(curr) != 1 or len(curr_pos) != 1:
                raise ValueError("curr and curr_pos given as lists must both hold exactly one tensor")
            curr, curr_pos = curr[0], curr_pos[0]
        if curr.shape[1] != memory.shape[1]:
            raise ValueError(f"batch size of curr ({curr.shape[1]}) and memory ({memory.shape[1]}) differ")
        output = curr
        if self.pos_enc_at_input and curr_pos is not None:
            output = output + 0.1 * curr_pos
        if self.batch_first:
            output, memory = output.transpose(0, 1), memory.transpose(0, 1)
            curr_pos = curr_pos.transpose(0, 1) if curr_pos is not None else None
            memory_pos = memory_pos.transpose(0, 1) if memory_pos is not None else None
        for layer in self.layers:
            kwds = {}
            if isinstance(layer.cross_attn_image, RoPEAttention):
                kwds = {"num_k_exclude_rope": num_obj_ptr_tokens}
            output = layer(tgt=output, memory=memory, pos=memory_pos, query_pos=curr_pos, **kwds)
        output = self.norm(output)
        return output.transpose(0, 1) if self.batch_first else output
