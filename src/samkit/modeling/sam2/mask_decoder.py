"""SAM 2's mask decoder: SAM 1's decoder plus high-resolution skip features, an object-score
token and a stability-based fallback from the single mask to the best of the three.

Output tokens, in order: [object-score token (pred_obj_scores only)], IoU token, 4 mask tokens,
then the prompt tokens. Mask token 0 is the single-mask output, tokens 1..3 the multimask ones.
Shapes: image embeddings B x C x h x w (stride 16); high-res features (after conv_s0 / conv_s1,
which SAM2Base.forward_image applies once per image) B x C/8 x 4h x 4w and B x C/4 x 2h x 2w;
mask logits B x K x 4h x 4w.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from samkit.modeling.layers import MLP
from samkit.modeling.mask_decoder import MaskDecoder as Sam1MaskDecoder


class MaskDecoder(Sam1MaskDecoder):
    def __init__(self, *, transformer_dim: int, transformer: nn.Module, num_multimask_outputs: int = 3,
                 activation: type[nn.Module] = nn.GELU, iou_head_depth: int = 3, iou_head_hidden_dim: int = 256,
                 use_high_res_features: bool = False, iou_prediction_use_sigmoid: bool = False,
                 dynamic_multimask_via_stability: bool = False, dynamic_multimask_stability_delta: float = 0.05,
                 dynamic_multimask_stability_thresh: float = 0.98, pred_obj_scores: bool = False,
                 pred_obj_scores_mlp: bool = False, use_multimask_token_for_obj_ptr: bool = False) -> None:
        super().__init__(transformer_dim=transformer_dim, transformer=transformer,
                         num_multimask_outputs=num_multimask_outputs, iou_head_depth=iou_head_depth,
                         iou_head_hidden_dim=iou_head_hidden_dim)
        if activation is not nn.GELU:
            self.output_upscaling[2] = activation()
            self.output_upscaling[4] = activation()
        self.iou_prediction_head.sigmoid_output = iou_prediction_use_sigmoid
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, transformer_dim)
            self.pred_obj_score_head = (MLP(transformer_dim, transformer_dim, 1, 3) if pred_obj_scores_mlp
                                        else nn.Linear(transformer_dim, 1))
        self.use_multimask_token_for_obj_ptr = use_multimask_token_for_obj_ptr
        self.use_high_res_features = use_high_res_features
        if use_high_res_features:
            # Project the stride-4 / stride-8 backbone features to the widths of the two upscaling
            # stages they are added to.
            self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1, stride=1)
            self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1, stride=1)
        # With one mask requested, fall back to the best multimask output when the single mask is
        # unstable (its area changes much between logit thresholds +delta and -delta).
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.dynamic_multimask_stability_delta = dynamic_multimask_stability_delta
        self.dynamic_multimask_stability_thresh = dynamic_multimask_stability_thresh

    def forward(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
                multimask_output: bool, repeat_image: bool,
                high_res_features: list[torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masks for B prompts.

        image_embeddings: B x C x h x w, or 1 x C x h x w shared by all prompts (repeat_image=True);
        image_pe: 1 x C x h x w; sparse: B x T x C; dense: B x C x h x w.
        Returns mask logits B x K x 4h x 4w, IoU predictions B x K (K = 3 or 1), the SAM output
        tokens for object pointers B x K' x C (K' = 3 with multimask_output and
        use_multimask_token_for_obj_ptr, else 1: the single-mask token) and object-score logits B x 1.
        """
        masks, iou_pred, mask_tokens_out, object_score_logits = self.predict_masks(
            image_embeddings=image_embeddings, image_pe=image_pe,
            sparse_prompt_embeddings=sparse_prompt_embeddings, dense_prompt_embeddings=dense_prompt_embeddings,
            repeat_image=repeat_image, high_res_features=high_res_features)
        if multimask_output:
            masks, iou_pred = masks[:, 1:], iou_pred[:, 1:]
        elif self.dynamic_multimask_via_stability and not self.training:
            masks, iou_pred = self._dynamic_multimask_via_stability(masks, iou_pred)
        else:
            masks, iou_pred = masks[:, 0:1], iou_pred[:, 0:1]
        if multimask_output and self.use_multimask_token_for_obj_ptr:
            sam_tokens_out = mask_tokens_out[:, 1:]
        else:
            # The single-mask token even with multimask output: tracking was trained on it.
            sam_tokens_out = mask_tokens_out[:, 0:1]
        return masks, iou_pred, sam_tokens_out, object_score_logits

    def predict_masks(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                      sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
                      repeat_image: bool = True, high_res_features: list[torch.Tensor] | None = None,
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """All 4 masks: logits B x 4 x 4h x 4w, IoU B x 4, mask tokens B x 4 x C, object scores B x 1."""
        b = sparse_prompt_embeddings.shape[0]
        if image_embeddings.shape[0] != b and not (repeat_image and image_embeddings.shape[0] == 1):
            raise ValueError(f"image_embeddings batch {image_embeddings.shape[0]} must match the {b} prompts"
                             + ("" if repeat_image else " (repeat_image=False)") + " or be 1 with repeat_image")
        if image_pe.shape[0] != 1:
            raise ValueError(f"image_pe must have batch size 1 (from get_dense_pe()), got {image_pe.shape[0]}")
        parts = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            parts.insert(0, self.obj_score_token.weight)
        s = int(self.pred_obj_scores)  # index of the IoU token
        output_tokens = torch.cat(parts, dim=0)
        tokens = torch.cat([output_tokens.unsqueeze(0).expand(b, -1, -1), sparse_prompt_embeddings], dim=1)
        # One image copy per prompt is inherent (the image tokens diverge per prompt); adding the dense
        # prompt makes it. The positional encoding is broadcast, not repeated.
        src = (image_embeddings + dense_prompt_embeddings).expand(b, -1, -1, -1)
        h, w = src.shape[-2:]
        hs, src = self.transformer(src, image_pe, tokens)
        iou_token_out = hs[:, s, :]
        mask_tokens_out = hs[:, s + 1 : s + 1 + self.num_mask_tokens, :]
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        if self.use_high_res_features:
            if high_res_features is None:
                raise ValueError("this decoder uses high-res features: pass high_res_features=[feat_s0, feat_s1]")
            masks = self.upscale_and_project(src, (h, w), hyper_in, high_res_features)
        else:
            masks = self.upscale_and_project(src, (h, w), hyper_in)
        iou_pred = self.iou_prediction_head(iou_token_out)
        if self.pred_obj_scores:
            object_score_logits = self.pred_obj_score_head(hs[:, 0, :])
        else:
            # No object-score head: say "object present" (sigmoid(10) ~ 1).
            object_score_logits = 10.0 * iou_pred.new_ones(iou_pred.shape[0], 1)
        return masks, iou_pred, mask_tokens_out, object_score_logits

    def upscale_and_project(self, image_tokens: torch.Tensor, hw: tuple[int, int], hyper_in: torch.Tensor,
                            high_res_features: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Upscale image tokens 4x, adding the skip features, and project: B x K x 4h x 4w logits.

        Without skip features this is SAM 1's sub-pixel matmul form (see its docstring). With them,
        feat_s1 (B' x C/4 x 2h x 2w) is added before the first LayerNorm and feat_s0
        (B' x C/8 x 4h x 4w) before the last activation, as
        act2(deconv2(act1(ln1(deconv1(x) + feat_s1))) + feat_s0); B' is 1 (shared) or B. The skip
        maps are rearranged into the sub-pixel row order: pixel (4*y0 + 2*ky1 + ky2,
        4*x0 + 2*kx1 + kx2) is row ((y0 * w + x0) * 4 + ky1 * 2 + kx1) * 4 + ky2 * 2 + kx2.
        """
        if high_res_features is None:
            return super().upscale_and_project(image_tokens, hw, hyper_in)
        feat_s0, feat_s1 = high_res_features
        conv1, norm1, act1, conv2, act2 = self.output_upscaling
        b, n, c = image_tokens.shape
        h, w = hw
        c1, c2 = conv1.out_channels, conv2.out_channels
        w1 = conv1.weight.permute(0, 2, 3, 1).reshape(c, 4 * c1)
        y = torch.addmm(conv1.bias.repeat(4), image_tokens.reshape(b * n, c), w1).view(b, n * 4, c1)
        s1 = feat_s1.reshape(-1, c1, h, 2, w, 2).permute(0, 2, 4, 3, 5, 1).reshape(-1, n * 4, c1)
        y = act1(F.layer_norm(y + s1, (c1,), norm1.weight, norm1.bias, norm1.eps))
        w2 = conv2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2)
        y = torch.addmm(conv2.bias.repeat(4), y.view(b * n * 4, c1), w2).view(b, n * 16, c2)
        s0 = feat_s0.reshape(-1, c2, h, 2, 2, w, 2, 2).permute(0, 2, 5, 3, 6, 4, 7, 1).reshape(-1, n * 16, c2)
        y = act2(y + s0)
        k = hyper_in.shape[1]
        masks = torch.bmm(y, hyper_in.transpose(1, 2))  # B x (hw*16) x K
        masks = masks.view(b, h, w, 2, 2, 2, 2, k).permute(0, 7, 1, 3, 5, 2, 4, 6)
        return masks.reshape(b, k, 4 * h, 4 * w)

    def _get_stability_scores(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """IoU of the mask at logit > +delta with the mask at logit > -delta: B x K (1 when both empty)."""
        mask_logits = mask_logits.flatten(-2)
        delta = self.dynamic_multimask_stability_delta
        area_i = torch.sum(mask_logits > delta, dim=-1).float()
        area_u = torch.sum(mask_logits > -delta, dim=-1).float()
        return torch.where(area_u > 0, area_i / area_u, 1.0)

    def _dynamic_multimask_via_stability(self, all_mask_logits: torch.Tensor,
                                         all_iou_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per prompt: mask 0 if it is stable, else the multimask output with the highest predicted IoU.

        all_mask_logits: B x 4 x H x W; all_iou_scores: B x 4 -> (B x 1 x H x W, B x 1).
        """
        multimask_iou = all_iou_scores[:, 1:]
        best = torch.argmax(multimask_iou, dim=-1)
        batch = torch.arange(multimask_iou.shape[0], device=all_iou_scores.device)
        best_logits = all_mask_logits[:, 1:][batch, best].unsqueeze(1)
        best_iou = multimask_iou[batch, best].unsqueeze(1)
        single_logits, single_iou = all_mask_logits[:, 0:1], all_iou_scores[:, 0:1]
        is_stable = self._get_stability_scores(single_logits) >= self.dynamic_multimask_stability_thresh
        mask_logits = torch.where(is_stable[..., None, None], single_logits, best_logits)
        iou = torch.where(is_stable, single_iou, best_iou)
        return mask_logits, iou
