"""The first mask-upscaling convolution split into a once-per-image part and a small per-click part.

After the two-way transformer each image token is an affine combination of the image-only vector and
a few per-click vectors. Block k's image side is (inference/point_decoder.py, `_image_to_token`)

    x_k    = keys_{k-1} + A_k M_k         A_k: N x HT image->token attention (softmax over the T tokens
                                          of each head, so each head's weights sum to 1), M_k: HT x C
                                          per-click rows (token values times out_proj, + out_proj bias / H)
    keys_k = r_k L_k(x_k) + b_k           LayerNorm: r_k = 1/std per token, L_k(v) = g_k * (v - mean_c v),
                                          a fixed linear map (gain g_k); b_k the bias

with keys_0 = img (embedding + no-mask embedding, the same for every click). L_k is linear and acts on
each row, so L_k(A_k M_k) = A_k L_k(M_k), and a per-token constant vector v may ride on the rows of one
head (A_k (M + 1_head0 v) = A_k M + v). Unrolled over D blocks, with Horner's rule:

    conv1(keys_D) = r_D * (... r_2 * (r_1 * (P + A_1 Q_1) + A_2 Q_2) ...) + const
    P   = L_D..L_1(img) W1                         N x 4*C4, once per image (the image graph)
    Q_k = L_D..L_k(M_k + 1_head0 b_{k-1}) W1       HT x 4*C4, per click (small: HT = 8 heads x T tokens)
    const = b_D W1 + conv1 bias

where W1 is the first ConvTranspose2d (kernel 2, stride 2) as a per-token linear map C -> 4*C4. A click
then pays D products N x HT x 4*C4 (2 x 56 for SAM) instead of N x C x 4*C4 (C = 256), plus D + 1
element-wise passes. The identity is exact; only float rounding differs (tests/export/test_decoder_split.py
checks it in float64). The transformer still computes keys_D: the final token->image attention reads it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from samkit.inference.point_decoder import PointBatchDecoder


class RecordingPointDecoder(PointBatchDecoder):
    """PointBatchDecoder that keeps, per two-way block, what the fold needs: (A, M, r, g, b), one prompt.

    The arithmetic is that of PointBatchDecoder._image_to_token; the LayerNorm is native_layer_norm,
    whose 1/std output the ONNX LayerNormalization returns at no extra cost.
    """

    def __init__(self, mask_decoder: nn.Module, num_heads: int) -> None:
        super().__init__(mask_decoder, num_heads)
        self.records: list[tuple[torch.Tensor, ...]] = []

    def _image_to_token(self, attn, logits_t, v_tok, residual, norm, residual_is_scratch):
        b, h, t, n = logits_t.shape
        a = torch.softmax(logits_t, dim=2).reshape(b, h * t, n)
        d = v_tok.shape[-1]
        wo = attn.out_proj.weight.view(-1, self.heads, d)  # C x H x d
        m = torch.einsum("bhtd,chd->bhtc", v_tok, wo).reshape(b, h * t, -1) + attn.out_proj.bias / h
        # 2-D (one prompt): the residual add becomes the Gemm's C input, and onnxruntime's
        # SkipLayerNormFusion (3-D Add + LayerNorm; its kernel took ~5 ms per 4096 x 256 call, several
        # times Add + LayerNorm) does not fire.
        # squeeze, not [0]: indexing exports as a Gather that copies the 4096 x 256 residual.
        a, m = a.squeeze(0), m.squeeze(0)
        x = torch.addmm(residual.squeeze(0), a.transpose(0, 1), m)
        y, _, rstd = torch.native_layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, getattr(norm, "eps", 1e-5))
        self.records.append((a, m, rstd, norm.weight, norm.bias))
        return y.unsqueeze(0)


    def _token_to_image(self, attn, q_tokens, keys, keys_pe=None, pe=None):
        # The base reads pe[0] of the 1 x N x C positional encoding; on a tensor that exports as a Gather
        # copying N x C per attention. A one-element list hands over the squeezed view instead.
        return super()._token_to_image(attn, q_tokens, keys, keys_pe, None if pe is None else [pe.squeeze(0)])


def _centre_scale(v: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """L(v) = gain * (v - mean over channels), row-wise (the LayerNorm without its 1/std and bias)."""
    return (v - v.mean(dim=-1, keepdim=True)) * gain


def _w1(mask_decoder: nn.Module) -> torch.Tensor:
    conv1 = mask_decoder.output_upscaling[0]
    return conv1.weight.permute(0, 2, 3, 1).reshape(conv1.weight.shape[0], -1)  # C x (ky, kx, c4)


def image_part(mask_decoder: nn.Module, img: torch.Tensor) -> torch.Tensor:
    """P = L_D..L_1(img) W1: img N x C (embedding + no-mask embedding) -> N x 4*C4, once per image."""
    for blk in mask_decoder.transformer.layers:
        img = _centre_scale(img, blk.norm4.weight)
    return torch.matmul(img, _w1(mask_decoder))


def _crop_cols(x: torch.Tensor, hw: tuple[int, int], rows: int, cols: int) -> torch.Tensor:
    """K x N (N = h*w position-major) -> K x rows*cols: the cells under the image."""
    h, w = hw
    return x.reshape(-1, h, w)[:, :rows, :cols].reshape(x.shape[0], rows * cols)


def folded_conv1(mask_decoder: nn.Module, records, side_up1: torch.Tensor, hw: tuple[int, int],
                 rows: int, cols: int) -> torch.Tensor:
    """conv1(keys_D) over the rows x cols cells, rows*cols x 4*C4 (column = (ky, kx, c4)).

    records: per block, in order, (A HT x N, M HT x C, r N x 1, g C, b C) (RecordingPointDecoder);
    side_up1: P, N x 4*C4, from `image_part`.
    """
    w1 = _w1(mask_decoder)
    heads = mask_decoder.transformer.num_heads
    h, w = hw
    acc = side_up1.reshape(h, w, -1)[:rows, :cols].reshape(rows * cols, -1)
    prev_bias = None
    for k, (a, m, rstd, _, _) in enumerate(records):
        if prev_bias is not None:  # the previous LayerNorm's bias rides on head 0's rows (they sum to 1)
            t = m.shape[0] // heads
            m = torch.cat([m[:t] + prev_bias, m[t:]], dim=0)
        for _, _, _, later_gain, _ in records[k:]:
            m = _centre_scale(m, later_gain)
        q = torch.matmul(m, w1)  # HT x 4*C4, per click
        acc = torch.addmm(acc, _crop_cols(a, hw, rows, cols).transpose(0, 1), q)
        acc = acc * _crop_cols(rstd.reshape(1, -1), hw, rows, cols).reshape(-1, 1)
        prev_bias = records[k][4]
    return acc + (torch.matmul(prev_bias, w1) + mask_decoder.output_upscaling[0].bias.repeat(4))


def unfolded_conv1(mask_decoder: nn.Module, keys: torch.Tensor) -> torch.Tensor:
    """The plain product keys W1 + bias, R x C -> R x 4*C4 (what the fold replaces)."""
    return F.linear(keys, _w1(mask_decoder).T, mask_decoder.output_upscaling[0].bias.repeat(4))
