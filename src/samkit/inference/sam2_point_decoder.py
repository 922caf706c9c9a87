"""SAM 2's mask decoder, evaluated for prompts without a mask input that share one image.

The SAM 2 decoder is SAM 1's two-way transformer (same module and parameter names) with three
changes: an optional object-score token before the IoU token, sigmoid IoU scores, and high-res
skips in the upscaling (dc1(src) + feat_s1, then dc2(.) + feat_s0). So SAM 1's folded evaluation
(point_decoder.PointBatchDecoder: per-image projections computed once, image-sized projections
folded into the few tokens, only the read tokens upscaled) applies unchanged to the attention; this
subclass adds the token layout and the high-res skips:

- The skips are rearranged once per image into the order in which the matmul-form transposed
  convolutions produce pixels ((y, x, ky, kx) for stride 8, (y, x, ky, kx, ky2, kx2) for stride 4),
  with the convolution biases folded in, so each prompt adds them without any transpose.
- The object-score token takes part in attention (it changes every other token) but its score is
  never computed: the image predictor does not return it.

Results equal `sam_mask_decoder(...)` to float32 rounding (tests/inference/test_sam2_predictor.py).
Frames: embedding grid h x w (64 x 64 at 1024 px); low-res logits 4h x 4w cover the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from samkit.inference.point_decoder import DecodedPoints, ImageSide, PointBatchDecoder, _ln


@dataclass
class Sam2ImageSide(ImageSide):
    """ImageSide plus the high-res skips (None for models without them), biases folded in."""

    s1: torch.Tensor | None = None  # N x 4 x C/4: stride-8 skip + dc1 bias, (y, x, ky, kx) order
    s0: torch.Tensor | None = None  # 16N x C/8: stride-4 skip + dc2 bias, (y, x, ky, kx, ky2, kx2) order


class Sam2PointDecoder(PointBatchDecoder):
    """Evaluate a SAM 2 `sam_mask_decoder` (reference or samkit) for batches of sparse prompts."""

    def __init__(self, mask_decoder: torch.nn.Module) -> None:
        super().__init__(mask_decoder, mask_decoder.transformer.num_heads)
        self.n_lead = 1 if getattr(mask_decoder, "pred_obj_scores", False) else 0  # the object-score token
        self.high_res = bool(getattr(mask_decoder, "use_high_res_features", False))

    @torch.no_grad()
    def prepare(self, image_embedding: torch.Tensor, image_pe: torch.Tensor, dense_embedding: torch.Tensor,
                high_res_feats: list[torch.Tensor] | None = None) -> Sam2ImageSide:
        """image_embedding, image_pe, dense_embedding (no-mask): 1 x C x h x w; high_res_feats:
        [1 x C/8 x 4h x 4w, 1 x C/4 x 2h x 2w] after conv_s0/conv_s1 (as set_image stores them)."""
        side = super().prepare(image_embedding, image_pe, dense_embedding)
        s0 = s1 = None
        if self.high_res:
            h, w = side.hw
            up = self.dec.output_upscaling
            f0, f1 = high_res_feats[0][0], high_res_feats[1][0]
            c8, c4 = f0.shape[0], f1.shape[0]
            s1 = f1.reshape(c4, h, 2, w, 2).permute(1, 3, 2, 4, 0).reshape(h * w, 4, c4) + up[0].bias
            s0 = f0.reshape(c8, h, 2, 2, w, 2, 2).permute(1, 4, 2, 5, 3, 6, 0).reshape(h * w * 16, c8) + up[3].bias
        return Sam2ImageSide(**vars(side), s1=s1, s0=s0)

    def output_tokens(self) -> torch.Tensor:
        """[obj_score?, iou, mask_0..mask_3] x C, the decoder's order."""
        tokens = super().output_tokens()
        return torch.cat([self.dec.obj_score_token.weight, tokens]) if self.n_lead else tokens

    def _iou_head(self, iou_token: torch.Tensor) -> torch.Tensor:
        return self.dec.iou_prediction_head(iou_token)  # B x 4; sigmoid inside when the model uses it

    @torch.no_grad()
    def mask_logits(self, side: Sam2ImageSide, out: DecodedPoints, prompts: slice | torch.Tensor,
                    mask_tokens: list[int], chunk: int = 16) -> torch.Tensor:
        """Low-res logits P' x len(mask_tokens) x 4h x 4w for the prompts in `prompts` (indices or a
        slice) and the mask tokens listed (0 = single-mask output, 1..3 = multimask outputs).

        Upscaling makes ~24 MB of temporaries per prompt at 1024 px (the stride-4 features before and
        after GELU), so prompts go `chunk` at a time: peak memory stays flat, speed is unchanged."""
        if isinstance(prompts, slice):  # sub-slices keep the per-prompt tensors as views
            rows = range(out.keys.shape[0])[prompts]
            sel = [slice(rows[s], rows[s] + rows.step * (len(rows[s : s + chunk]) - 1) + 1, rows.step)
                   for s in range(0, len(rows), chunk)]
        else:
            idx = torch.as_tensor(prompts, device=out.keys.device)
            sel = [idx[s : s + chunk] for s in range(0, idx.numel(), chunk)]
        parts = [self._mask_logits(side, out, p, mask_tokens) for p in sel]
        if not parts:
            h, w = side.hw
            return out.keys.new_empty(0, len(mask_tokens), 4 * h, 4 * w)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _mask_logits(self, side: Sam2ImageSide, out: DecodedPoints, prompts: slice | torch.Tensor,
                     mask_tokens: list[int]) -> torch.Tensor:
        tf, dec = self.tf, self.dec
        tok = [self.n_lead + 1 + j for j in mask_tokens]
        keys = out.keys[prompts]
        q = out.queries[prompts][:, tok]
        q = _ln(tf.norm_final_attn,
                q + self._token_to_image(tf.final_attn_token_to_image, q + out.tok_pe[prompts][:, tok], keys, pe=side.pe))
        hyper = torch.stack([dec.output_hypernetworks_mlps[j](q[:, i]) for i, j in enumerate(mask_tokens)], dim=1)
        up = dec.output_upscaling
        conv1, ln1, conv2 = up[0], up[1], up[3]
        b, n, c = keys.shape
        h, w = side.hw
        c4, c8 = conv1.weight.shape[1], conv2.weight.shape[1]
        # Stride-2 transposed convolutions as per-position matmuls, output channels last.
        w1 = conv1.weight.permute(0, 2, 3, 1).reshape(c, 4 * c4)  # C x (ky, kx, c4)
        x = torch.matmul(keys, w1).view(b, n, 4, c4).add_(side.s1 if side.s1 is not None else conv1.bias)
        x = F.gelu(F.layer_norm(x, (c4,), ln1.weight, ln1.bias, getattr(ln1, "eps", 1e-6)))
        w2 = conv2.weight.permute(0, 2, 3, 1).reshape(c4, 4 * c8)  # C4 x (ky2, kx2, c8)
        x = torch.matmul(x, w2).view(b, n * 16, c8).add_(side.s0 if side.s0 is not None else conv2.bias)
        x = F.gelu(x, approximate="none")
        m = torch.bmm(x, hyper.transpose(1, 2))  # B x (y, x, ky, kx, ky2, kx2) x M
        m = m.view(b, h, w, 2, 2, 2, 2, -1).permute(0, 7, 1, 3, 5, 2, 4, 6)
        return m.reshape(b, -1, 4 * h, 4 * w)
