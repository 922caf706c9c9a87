"""SAM's mask decoder, evaluated for prompts without a mask input that share one image embedding.

Used by automatic mask generation (a grid of single points) and by SamPredictor (any points and
boxes, whenever no mask prompt is given).

Mathematically this is `model.mask_decoder(..., multimask_output=True)` for prompts without a mask
input; it reads the decoder's own parameters (by their official names) and computes the same
function in an order that does far less work:

- The decoder would copy the C x h x w embedding once per prompt. In the first two-way block the
  image side is still the same for every prompt, so its key/value/query projections are computed
  once per image, not once per prompt.
- Attention projections of image-sized tensors are folded into the few tokens instead:
  softmax(Q (X Wk)^T) (X Wv) = softmax((Q Wk) X^T) X Wv, and out_proj(A V) = A (V Wout). With
  7 tokens and 4096 image positions that turns N x C x C/2 products into N x C x 7*heads ones.
- Key biases are dropped where they add a per-query constant to attention logits (softmax is
  shift-invariant); value biases pass through because attention rows sum to one.
- The final token-to-image attention runs only for the tokens that are read (IoU + 3 masks).
- Masks are upscaled only for the (prompt, output) pairs a caller asks for, after the cheap
  predicted-IoU filter, so most prompts never pay for the two transposed convolutions.

Results match the plain decoder to float32 rounding (tests/automatic/test_point_decoder.py).
Frames: the embedding grid is h x w (64 x 64 for SAM); low-res masks are 4h x 4w logits in the
padded model-input frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ImageSide:
    """Per-image tensors shared by every prompt. N = h*w positions, D = attention dim."""

    img: torch.Tensor  # 1 x N x C: embedding + no-mask dense prompt, position-major
    pe: torch.Tensor  # 1 x N x C: dense positional encoding
    k1: torch.Tensor  # H x N x d: block-1 token->image keys
    v1: torch.Tensor  # H x N x d: block-1 token->image values
    q1: torch.Tensor  # H x N x d: block-1 image->token queries
    hw: tuple[int, int]


@dataclass
class DecodedPoints:
    """Decoder state for P prompts after the transformer (everything masks still need)."""

    iou_pred: torch.Tensor  # P x M predicted IoU of the M multimask outputs
    iou_single: torch.Tensor  # P x 1 predicted IoU of the single-mask output (mask token 0)
    queries: torch.Tensor  # P x T x C tokens after the two-way blocks
    tok_pe: torch.Tensor  # P x T x C token positional embeddings (the prompt tokens themselves)
    keys: torch.Tensor  # P x N x C image side after the transformer (input of upscaling)


def _lin(mod: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, mod.weight, mod.bias)


def _ln(mod: nn.Module, x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), mod.weight, mod.bias, getattr(mod, "eps", eps))


def _mlp(mod: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """segment_anything's MLP: ReLU between layers, none after the last."""
    layers = list(mod.layers)
    for i, layer in enumerate(layers):
        x = _lin(layer, x)
        if i < len(layers) - 1:
            x = F.relu(x)
    return x


def _token_mlp(mod: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The two-way blocks' token MLP (ReLU between two layers) in either naming: SAM 1's MLPBlock
    (lin1/lin2) or SAM 2's MLP (layers.0/layers.1)."""
    first, second = (mod.lin1, mod.lin2) if hasattr(mod, "lin1") else (mod.layers[0], mod.layers[1])
    return _lin(second, F.relu(_lin(first, x)))


class PointBatchDecoder:
    """Evaluate `mask_decoder` for batches of point prompts on one image embedding."""

    def __init__(self, mask_decoder: nn.Module, num_heads: int):
        self.dec = mask_decoder
        self.tf = mask_decoder.transformer
        self.heads = num_heads
        self.n_mask_tokens = mask_decoder.mask_tokens.weight.shape[0]
        self.dim = mask_decoder.iou_token.weight.shape[1]
        self.n_lead = 0  # output tokens before the IoU token (SAM 2's object-score token)

    # ---- what differs between decoders (SAM 2's subclass overrides these) ----
    def output_tokens(self) -> torch.Tensor:
        """The decoder's output tokens in its order: [iou, mask_0..mask_3] x C."""
        return torch.cat([self.dec.iou_token.weight, self.dec.mask_tokens.weight], dim=0)

    def _iou_head(self, iou_token: torch.Tensor) -> torch.Tensor:
        """B x C -> B x (1 + M) predicted IoU of the single and multimask outputs."""
        return _mlp(self.dec.iou_prediction_head, iou_token)

    # ---- attention helpers (B = prompt batch, T = tokens, H = heads, d = head dim) ----
    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """... x T x D -> ... x H x T x d."""
        *lead, t, dd = x.shape
        return x.reshape(*lead, t, self.heads, dd // self.heads).transpose(-3, -2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        """... x H x T x d -> ... x T x D."""
        *lead, h, t, d = x.shape
        return x.transpose(-3, -2).reshape(*lead, t, h * d)

    def _token_attention(self, attn: nn.Module, q, k, v) -> torch.Tensor:
        """Plain attention among the few tokens (B x T x C in, B x T x C out)."""
        qh, kh, vh = self._split(_lin(attn.q_proj, q)), self._split(_lin(attn.k_proj, k)), self._split(_lin(attn.v_proj, v))
        a = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(qh.shape[-1]), dim=-1)
        return _lin(attn.out_proj, self._merge(a @ vh))

    def _token_to_image(self, attn: nn.Module, q_tokens: torch.Tensor, keys: torch.Tensor,
                        keys_pe: torch.Tensor | None = None, pe: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens attend to per-prompt image tensors (B x N x C) without projecting them.

        logits_h = (Q_h Wk_h) (keys+pe)^T; output_h = (A_h keys) Wv_h^T + bv_h. Pass keys_pe
        (keys + pe, B x N x C) when it exists; otherwise pe (1 x N x C) is applied through one
        shared (B*H*T x C) @ (C x N) product, which is cheaper than materialising keys + pe when
        only a few tokens attend.
        """
        b, t, _ = q_tokens.shape
        qh = self._split(_lin(attn.q_proj, q_tokens))  # B x H x T x d
        d = qh.shape[-1]
        wk = attn.k_proj.weight.view(self.heads, d, -1)  # H x d x C
        q_img = torch.einsum("bhtd,hdc->bhtc", qh, wk).reshape(b, self.heads * t, -1)
        if keys_pe is not None:
            logits = torch.bmm(q_img, keys_pe.transpose(1, 2))
        else:
            pe_part = torch.matmul(q_img.reshape(-1, q_img.shape[-1]), pe[0].T).view(b, self.heads * t, -1)
            logits = torch.baddbmm(pe_part, q_img, keys.transpose(1, 2))
        a = torch.softmax(logits.mul_(1.0 / math.sqrt(d)), dim=-1)  # B x HT x N
        z = torch.bmm(a, keys).view(b, self.heads, t, -1)  # B x H x T x C
        wv = attn.v_proj.weight.view(self.heads, d, -1)
        vh = torch.einsum("bhtc,hdc->bhtd", z, wv) + attn.v_proj.bias.view(self.heads, 1, d)
        return _lin(attn.out_proj, self._merge(vh))

    def _image_to_token(self, attn: nn.Module, logits_t: torch.Tensor, v_tok: torch.Tensor,
                        residual: torch.Tensor, norm: nn.Module, residual_is_scratch: bool) -> torch.Tensor:
        """Image positions attend to the tokens; returns norm(residual + attention output), B x N x C.
        With residual_is_scratch the residual (the previous per-prompt image side, not used afterwards) is
        overwritten; the shared per-image side must never be (with one prompt its batch is also 1).

        logits_t: B x H x T x N scaled logits, transposed so the softmax over the T tokens runs
        along a strided axis (a softmax over a last axis of size 7 is several times slower).
        out_proj(A V) = A (V Wout) + bout, and since each head's weights sum to one the bias is
        folded into V Wout as bout / H: one batched matmul accumulates straight onto the residual.
        """
        b, h, t, n = logits_t.shape
        a = torch.softmax(logits_t, dim=2).reshape(b, h * t, n)
        d = v_tok.shape[-1]
        wo = attn.out_proj.weight.view(-1, self.heads, d)  # C x H x d
        m = torch.einsum("bhtd,chd->bhtc", v_tok, wo).reshape(b, h * t, -1) + attn.out_proj.bias / h
        if residual_is_scratch and residual.shape[0] == b:  # accumulate in place, saving a B x N x C copy
            x = residual.baddbmm_(a.transpose(1, 2), m)
        else:
            x = torch.baddbmm(residual, a.transpose(1, 2), m)
        return _ln(norm, x)

    # ---- public ----
    @torch.no_grad()
    def prepare(self, image_embedding: torch.Tensor, image_pe: torch.Tensor, dense_embedding: torch.Tensor) -> ImageSide:
        """image_embedding, image_pe, dense_embedding: 1 x C x h x w (dense: the no-mask embedding)."""
        _, c, h, w = image_embedding.shape
        img = (image_embedding + dense_embedding).flatten(2).transpose(1, 2).contiguous()
        pe = image_pe.flatten(2).transpose(1, 2).contiguous()
        blk = self.tf.layers[0]
        kpe = img + pe
        k1 = self._split(_lin(blk.cross_attn_token_to_image.k_proj, kpe))[0]
        v1 = self._split(_lin(blk.cross_attn_token_to_image.v_proj, img))[0]
        q1 = self._split(_lin(blk.cross_attn_image_to_token.q_proj, kpe))[0]
        return ImageSide(img=img, pe=pe, k1=k1, v1=v1, q1=q1, hw=(h, w))

    @torch.no_grad()
    def transformer(self, side: ImageSide, sparse: torch.Tensor) -> DecodedPoints:
        """sparse: B x S x C prompt tokens (points + padding). Returns IoU, hyper weights, image side."""
        b = sparse.shape[0]
        dec, tf = self.dec, self.tf
        out_tokens = self.output_tokens()
        tok_pe = torch.cat([out_tokens.unsqueeze(0).expand(b, -1, -1), sparse.to(out_tokens.dtype)], dim=1)
        queries, keys, keys_pe = tok_pe, None, None
        for i, blk in enumerate(tf.layers):
            # self-attention of the tokens (the first block skips the PE and the residual)
            if i == 0:
                queries = self._token_attention(blk.self_attn, queries, queries, queries)
            else:
                q = queries + tok_pe
                queries = queries + self._token_attention(blk.self_attn, q, q, queries)
            queries = _ln(blk.norm1, queries)
            # tokens -> image
            t2i = blk.cross_attn_token_to_image
            if keys is None:  # block 1: the image side is shared, its projections precomputed
                qh = self._split(_lin(t2i.q_proj, queries + tok_pe))  # B x H x T x d
                t, d = qh.shape[2], qh.shape[3]
                q_heads = qh.transpose(0, 1).reshape(self.heads, b * t, d)  # heads as the bmm batch
                a = torch.softmax(torch.bmm(q_heads, side.k1.transpose(1, 2)).mul_(1.0 / math.sqrt(d)), dim=-1)
                o = torch.bmm(a, side.v1).view(self.heads, b, t, d).transpose(0, 1)
                attn_out = _lin(t2i.out_proj, self._merge(o))
            else:
                attn_out = self._token_to_image(t2i, queries + tok_pe, keys, keys_pe=keys_pe)
            queries = _ln(blk.norm2, queries + attn_out)
            queries = _ln(blk.norm3, queries + _token_mlp(blk.mlp, queries))
            # image -> tokens
            i2t = blk.cross_attn_image_to_token
            k_tok = self._split(_lin(i2t.k_proj, queries + tok_pe))  # B x H x T x d
            v_tok = self._split(_lin(i2t.v_proj, queries))
            d = k_tok.shape[-1]
            scale = 1.0 / math.sqrt(d)
            if keys is None:
                # Shared image queries: one (b*T x d) @ (d x N) product per head, no expanded copy.
                t = k_tok.shape[2]
                k_heads = k_tok.permute(1, 0, 2, 3).reshape(self.heads, b * t, d)
                logits_t = torch.bmm(k_heads, side.q1.transpose(1, 2)).mul_(scale)
                logits_t = logits_t.view(self.heads, b, t, -1).transpose(0, 1)
                residual = side.img
            else:
                # (keys+pe) Wq_h^T K_h^T = (keys+pe) G_h with G_h = Wq_h^T K_h^T (C x T), per prompt.
                wq = i2t.q_proj.weight.view(self.heads, d, -1)  # H x d x C
                g_t = torch.einsum("hdc,bhtd->bhtc", wq, k_tok).reshape(b, -1, wq.shape[-1])
                bias = torch.einsum("hd,bhtd->bht", i2t.q_proj.bias.view(self.heads, d), k_tok).reshape(b, -1, 1)
                logits_t = torch.baddbmm(bias, g_t, keys_pe.transpose(1, 2)).mul_(scale)
                logits_t = logits_t.view(b, self.heads, -1, logits_t.shape[-1])
                residual = keys
            keys = self._image_to_token(i2t, logits_t, v_tok, residual, blk.norm4,
                                        residual_is_scratch=residual is not side.img)
            keys_pe = keys + side.pe if i + 1 < len(tf.layers) else None
        # Final token -> image attention for the IoU token only: the IoU filter needs nothing else.
        # The mask tokens take their final attention in masks(), for the prompts that survive.
        tf_final, s = tf.final_attn_token_to_image, self.n_lead
        q0 = queries[:, s : s + 1]
        q0 = _ln(tf.norm_final_attn, q0 + self._token_to_image(tf_final, q0 + tok_pe[:, s : s + 1], keys, pe=side.pe))
        iou_all = self._iou_head(q0[:, 0])
        return DecodedPoints(iou_pred=iou_all[:, 1:], iou_single=iou_all[:, :1], queries=queries, tok_pe=tok_pe,
                             keys=keys)

    @torch.no_grad()
    def masks(self, side: ImageSide, out: DecodedPoints, prompts: torch.Tensor | slice,
              multimask: bool | None = True) -> torch.Tensor:
        """Low-res mask logits of the multimask outputs for the selected prompts (indices into the
        batch): P' x M x 4h x 4w, in the padded model-input frame.

        The mask tokens' final attention runs here, then the upscaling. The two stride-2 transposed
        convolutions are per-position matmuls; weights are reordered so output channels come last
        (channel LayerNorm and the hyper dot need no transposes).
        """
        tf, dec = self.tf, self.dec
        # Token 0 is the IoU token, 1 the single-mask output, 2.. the multimask outputs;
        # multimask=None returns all of them (single first), as the ONNX decoder does.
        sel = {True: list(range(2, 1 + self.n_mask_tokens)), False: [1], None: list(range(1, 1 + self.n_mask_tokens))}[multimask]
        keys = out.keys[prompts]
        q = out.queries[prompts][:, sel]
        q = _ln(tf.norm_final_attn,
                q + self._token_to_image(tf.final_attn_token_to_image, q + out.tok_pe[prompts][:, sel], keys, pe=side.pe))
        hyper = torch.stack([_mlp(dec.output_hypernetworks_mlps[t - 1], q[:, i]) for i, t in enumerate(sel)], dim=1)
        hw = side.hw
        up = self.dec.output_upscaling
        conv1, ln1, conv2 = up[0], up[1], up[3]
        b, n, c = keys.shape
        h, w = hw
        c4, c8 = conv1.weight.shape[1], conv2.weight.shape[1]
        w1 = conv1.weight.permute(0, 2, 3, 1).reshape(c, 4 * c4)  # C x (ky, kx, c4)
        x = torch.matmul(keys, w1).view(b, n, 4, c4).add_(conv1.bias)
        x = F.gelu(F.layer_norm(x, (c4,), ln1.weight, ln1.bias, getattr(ln1, "eps", 1e-6)))
        w2 = conv2.weight.permute(0, 2, 3, 1).reshape(c4, 4 * c8)  # C4 x (ky2, kx2, c8)
        x = F.gelu(torch.matmul(x, w2).view(b, n * 16, c8).add_(conv2.bias))
        m = torch.bmm(x, hyper.transpose(1, 2))  # B x (y, x, ky, kx, ky2, kx2) x M
        m = m.view(b, h, w, 2, 2, 2, 2, -1).permute(0, 7, 1, 3, 5, 2, 4, 6)
        return m.reshape(b, -1, 4 * h, 4 * w)
