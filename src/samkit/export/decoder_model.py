"""The prompt encoder + mask decoder + mask postprocessing as one traceable module for ONNX.

Inputs and outputs keep the names and meanings of the official SAM ONNX model, so front-ends built
for the official demo run it unchanged:

    image_embeddings  f32 [1, C, h, w]     the image encoder's output
    point_coords      f32 [1, N, 2]        x, y in the model-input frame (original pixels scaled by
                                           img_size / max(H, W)); the +0.5 pixel-centre shift is
                                           applied inside, as the prompt encoder does
    point_labels      f32 [1, N]           1 foreground, 0 background, 2 / 3 box top-left /
                                           bottom-right corner, -1 padding (append a (0, 0) point
                                           labelled -1 when there is no box, like the official demo)
    mask_input        f32 [1, 1, 4h, 4w]   previous low-res logits (ignored when has_mask_input is 0)
    has_mask_input    f32 [1]              1 or 0
    orig_im_size      f32 [2]              H, W of the original image in pixels
->
    masks             f32 [1, K, H, W]     logits at original size (K = 4: index 0 is the single-mask
                                           output, 1..3 the three ambiguity-aware masks; K = 1 for
                                           the single-mask variant)
    iou_predictions   f32 [1, K]
    low_res_masks     f32 [1, K, 4h, 4w]   logits, feed one back as mask_input
    stability_scores  f32 [1, K]           (optional extra output) IoU of the low-res mask
                                           thresholded at +1 and at -1 logits

Every size stays symbolic: the crop to the resized-image region and the final upscale read their
sizes from `orig_im_size` inside the graph, so one file serves every aspect ratio.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from samkit.inference.point_decoder import PointBatchDecoder

STABILITY_OFFSET = 1.0


class SamOnnxDecoder(nn.Module):
    """Wraps a Sam's prompt encoder and mask decoder (parameters shared, not copied).

    Works with samkit's `Sam` and with the reference `segment_anything` Sam alike: it only uses the
    parameters whose names the official checkpoints fix (pe_layer.positional_encoding_gaussian_matrix,
    point_embeddings, not_a_point_embed, no_mask_embed, mask_downscaling) and the mask decoder.
    """

    def __init__(self, model: nn.Module, single_mask: bool = False, stability_output: bool = True) -> None:
        super().__init__()
        self.prompt_encoder = model.prompt_encoder
        self.mask_decoder = model.mask_decoder
        self.img_size = int(model.image_encoder.img_size)
        self.mask_threshold = float(getattr(model, "mask_threshold", 0.0))
        self.single_mask = single_mask
        self.stability_output = stability_output
        # The folded decoder computes the same function as mask_decoder.predict_masks with ~2x less
        # work (attention projections folded into the few tokens; see inference/point_decoder.py).
        self.folded = PointBatchDecoder(model.mask_decoder, model.mask_decoder.transformer.num_heads)

    @property
    def output_names(self) -> list[str]:
        names = ["masks", "iou_predictions", "low_res_masks"]
        return names + ["stability_scores"] if self.stability_output else names

    def _embed_points(self, coords_xy: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """coords_xy 1xNx2 (model-input frame), labels 1xN float -> 1xNxC sparse embeddings."""
        pe = self.prompt_encoder
        gaussian = pe.pe_layer.positional_encoding_gaussian_matrix  # 2 x C/2
        unit = (coords_xy + 0.5) / self.img_size  # pixel centres, then [0, 1]
        proj = (2.0 * unit - 1.0) @ gaussian * (2.0 * math.pi)
        embedding = torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)
        labels = labels.unsqueeze(-1)
        # Arithmetic masks instead of boolean indexing keep the graph free of data-dependent shapes.
        embedding = embedding * (labels != -1).to(embedding.dtype)
        embedding = embedding + pe.not_a_point_embed.weight * (labels == -1).to(embedding.dtype)
        for i, point_embed in enumerate(pe.point_embeddings):
            embedding = embedding + point_embed.weight * (labels == i).to(embedding.dtype)
        return embedding

    def _embed_mask(self, mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        """mask_input 1x1x4hx4w logits, has_mask_input [1] -> 1xCxhxw dense embedding."""
        pe = self.prompt_encoder
        has = has_mask_input.reshape(1, 1, 1, 1)
        no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1)
        return has * pe.mask_downscaling(mask_input) + (1.0 - has) * no_mask

    def _decode(self, image_embeddings, sparse, dense):
        """All 1 + num_multimask_outputs masks (1xKx4hx4w) and their IoU predictions (1xK)."""
        image_pe = self.prompt_encoder.get_dense_pe()
        side = self.folded.prepare(image_embeddings, image_pe, dense)
        out = self.folded.transformer(side, sparse)
        low_res = self.folded.masks(side, out, slice(None), multimask=None)
        return low_res, torch.cat([out.iou_single, out.iou_pred], dim=1)

    def _select_single(self, masks, scores, num_points: int):
        """The official demo's rule: one point -> best of the 3 multimask outputs, else output 0."""
        # Adding a large weight to output 0 when there is more than one point picks it without an
        # `if` on a traced value (num_points counts the padding point, hence 2.5).
        weight = torch.zeros_like(scores)
        weight[:, 0] = 1000.0
        best = torch.argmax(scores + (num_points - 2.5) * weight, dim=1)
        masks = torch.gather(masks, 1, best.reshape(-1, 1, 1, 1).expand(-1, 1, *masks.shape[2:]))
        return masks, torch.gather(scores, 1, best.reshape(-1, 1))

    def _upscale(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        """Low-res logits -> img_size square -> crop the resized-image region -> original H x W."""
        masks = F.interpolate(masks, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False)
        orig_hw = orig_im_size.to(torch.float32)
        input_hw = torch.floor(orig_hw * (self.img_size / torch.max(orig_hw)) + 0.5).clamp(min=1).to(torch.int64)
        input_h, input_w = input_hw[0].item(), input_hw[1].item()
        orig_h, orig_w = orig_im_size[0].to(torch.int64).item(), orig_im_size[1].to(torch.int64).item()
        # Tell the exporter what these data-dependent sizes can be, so the crop stays symbolic.
        for size in (input_h, input_w):
            torch._check(size >= 1)
            torch._check(size <= self.img_size)
        torch._check(orig_h >= 1)
        torch._check(orig_w >= 1)
        masks = masks[..., :input_h, :input_w]
        return F.interpolate(masks, size=(orig_h, orig_w), mode="bilinear", align_corners=False)

    @torch.no_grad()
    def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input, orig_im_size):
        sparse = self._embed_points(point_coords, point_labels)
        dense = self._embed_mask(mask_input, has_mask_input)
        low_res, scores = self._decode(image_embeddings, sparse, dense)
        if self.single_mask:
            low_res, scores = self._select_single(low_res, scores, point_coords.shape[1])
        masks = self._upscale(low_res, orig_im_size)
        outputs = (masks, scores, low_res)
        if self.stability_output:
            outputs += (stability_scores(low_res, self.mask_threshold, STABILITY_OFFSET),)
        return outputs


def stability_scores(mask_logits: torch.Tensor, mask_threshold: float, offset: float) -> torch.Tensor:
    """IoU between the masks thresholded at threshold + offset and threshold - offset. BxKxHxW -> BxK.

    Written with float sums (not int16/int32 as in the reference) because ONNX runtimes reduce
    floats everywhere; the counts stay exact in float32 up to 2^24 pixels per mask.
    """
    high = (mask_logits > (mask_threshold + offset)).to(torch.float32).sum(dim=(-1, -2))
    low = (mask_logits > (mask_threshold - offset)).to(torch.float32).sum(dim=(-1, -2))
    return high / low.clamp(min=1.0)
