"""Mask decoder: IoU token + 4 mask tokens through the two-way transformer, hypernetwork masks.

Mask token 0 is the single-mask output (unambiguous prompts); tokens 1..3 are the three
ambiguity-aware masks returned with multimask_output=True.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.layers import MLP, LayerNorm2d
from samkit.modeling.transformer import TwoWayTransformer


class MaskDecoder(nn.Module):
    def __init__(self, *, transformer_dim: int, transformer: TwoWayTransformer, num_multimask_outputs: int = 3,
                 iou_head_depth: int = 3, iou_head_hidden_dim: int = 256) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth)

    def forward(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
                multimask_output: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns low-res mask logits B x K x 4h x 4w and IoU predictions B x K (K = 3 or 1)."""
        masks, iou_pred = self.predict_masks(image_embeddings, image_pe, sparse_prompt_embeddings,
                                             dense_prompt_embeddings)
        sel = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, sel], iou_pred[:, sel]

    def predict_masks(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                      sparse_prompt_embeddings: torch.Tensor,
                      dense_prompt_embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """All mask tokens: B x 4 x 4h x 4w logits and B x 4 IoU predictions.

        image_embeddings: 1 x C x h x w (shared by all B prompts) or B x C x h x w (one per prompt).
        image_pe: 1 x C x h x w. sparse: B x T x C. dense: B x C x h x w (or broadcastable).
        """
        b = sparse_prompt_embeddings.shape[0]
        if image_embeddings.shape[0] not in (1, b):
            raise ValueError(f"image_embeddings batch {image_embeddings.shape[0]} must be 1 or match the "
                             f"{b} prompts")
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([output_tokens.unsqueeze(0).expand(b, -1, -1), sparse_prompt_embeddings], dim=1)
        # The image tokens diverge per prompt after the first image->token attention, so one copy per
        # prompt is inherent; adding the dense prompt makes it (no separate repeat_interleave copy).
        src = (image_embeddings + dense_prompt_embeddings).expand(b, -1, -1, -1)
        _, _, h, w = src.shape
        # The positional encoding is the same for every prompt: broadcast it instead of repeating.
        hs, src = self.transformer(src, image_pe, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]

        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        masks = self.upscale_and_project(src, (h, w), hyper_in)
        return masks, self.iou_prediction_head(iou_token_out)

    def upscale_and_project(self, image_tokens: torch.Tensor, hw: tuple[int, int],
                            hyper_in: torch.Tensor) -> torch.Tensor:
        """Upscale image tokens 4x and take each mask token's dot product: B x K x 4h x 4w logits.

        image_tokens: B x h*w x C (token-major, as the transformer returns them); hyper_in: B x K x C/8.

        Same arithmetic as `output_upscaling` followed by `hyper_in @ upscaled`, computed differently:
        a ConvTranspose2d with kernel 2 and stride 2 maps each input pixel to its own 2x2 output
        block, i.e. it is a per-pixel linear map C -> 4 x C'. We run both transposed convolutions as
        matmuls in a "sub-pixel" layout (pixel, ky1kx1, ky2kx2, channel) that keeps channels last, so
        LayerNorm2d is a plain layer_norm over the last axis and nothing is transposed until the K
        final masks are put in raster order. ~2.5x faster than the conv path on CPU; the parameters
        (and checkpoint keys) are those of `output_upscaling`.
        """
        conv1, norm1, act1, conv2, act2 = self.output_upscaling
        b, n, c = image_tokens.shape
        h, w = hw
        c1, c2 = conv1.out_channels, conv2.out_channels
        # (C_in, C_out, ky, kx) -> (C_in, ky*kx*C_out): column = (ky, kx, c_out) with c_out fastest.
        w1 = conv1.weight.permute(0, 2, 3, 1).reshape(c, 4 * c1)
        y = torch.addmm(conv1.bias.repeat(4), image_tokens.reshape(b * n, c), w1)  # (B*hw) x 4*c1
        y = act1(F.layer_norm(y.view(b * n * 4, c1), (c1,), norm1.weight, norm1.bias, norm1.eps))
        w2 = conv2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2)
        y = act2(torch.addmm(conv2.bias.repeat(4), y, w2))  # (B*hw*4) x 4*c2
        k = hyper_in.shape[1]
        masks = torch.bmm(y.view(b, n * 16, c2), hyper_in.transpose(1, 2))  # B x (hw*16) x K
        # row index = ((y0 * w + x0) * 4 + ky1 * 2 + kx1) * 4 + ky2 * 2 + kx2;
        # output pixel (4*y0 + 2*ky1 + ky2, 4*x0 + 2*kx1 + kx2).
        masks = masks.view(b, h, w, 2, 2, 2, 2, k).permute(0, 7, 1, 3, 5, 2, 4, 6)
        return masks.reshape(b, k, 4 * h, 4 * w)

