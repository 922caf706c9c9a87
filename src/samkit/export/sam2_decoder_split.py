"""SAM 2's prompt encoder + mask decoder for the page, split like SAM 1's (decoder_split.py).

SAM 2's decoder also reads the high-resolution features (strides 4 and 8, after conv_s0 / conv_s1),
added as skips in the upscaling, and has an object-score token. The split:

    image graph   image_embed f32 [1, C, h, w], feat_s0 f32 [1, C/8, 4h, 4w], feat_s1 f32 [1, C/4, 2h, 2w]
                  -> side_img, side_pe [N, C]; side_k1, side_v1, side_q1 [H, N, d] (as SAM 1's), and
                     side_s1 [N, 4, C/4], side_s0 [16N, C/8]: the skips in the order the matmul-form
                     transposed convolutions produce pixels, biases folded in (sam2_point_decoder.py)
    prompt graph  point_coords f32 [1, P, 2] in the model-input frame (x * img_size / W, y * img_size / H:
                  SAM 2 squashes the image; +0.5 is added inside), point_labels f32 [1, P] (1 fg, 0 bg,
                  2 / 3 box corners, -1 padding: SAM 2 always ends with one padding point, box or not)
                  + the seven side tensors
                  -> low_res_masks [1, 4, 4h, 4w] logits clamped to [-32, 32] over the whole image:
                     mask 0 is what SAM2ImagePredictor returns with multimask_output=False (token 0, or
                     the best multimask output when token 0 is unstable: dynamic_multimask_via_stability),
                     1..3 what it returns with multimask_output=True;
                     iou_predictions [1, 4] in the same layout; object_score_logits [1, 1] (> 0: an
                     object is present; 10 for models without the head)

No mask input (the page never sends one), so the per-image work is hoisted as for SAM 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from samkit.export.decoder_export import DEFAULT_OPSET, MAX_POINTS, as_cpu_fp32, export_context, save_atomically
from samkit.export.onnx_fusions import fuse_gelu
from samkit.inference.point_decoder import _ln
from samkit.inference.sam2_point_decoder import Sam2ImageSide, Sam2PointDecoder

SAM2_SIDE_NAMES = ["side_img", "side_pe", "side_k1", "side_v1", "side_q1", "side_s1", "side_s0"]
SAM2_IMAGE_INPUTS = ["image_embed", "feat_s0", "feat_s1"]
SAM2_PROMPT_INPUTS = ["point_coords", "point_labels", *SAM2_SIDE_NAMES]
SAM2_PROMPT_OUTPUTS = ["low_res_masks", "iou_predictions", "object_score_logits"]
LOGIT_CLAMP = 32.0  # as SAM2ImagePredictor clamps its low-res logits


class Sam2ImageSideOnnx(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.prompt_encoder = model.sam_prompt_encoder
        self.mask_decoder = model.sam_mask_decoder
        self.fast = Sam2PointDecoder(model.sam_mask_decoder)

    @torch.no_grad()
    def forward(self, image_embed, feat_s0, feat_s1):
        pe = self.prompt_encoder
        no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1)
        side = self.fast.prepare(image_embed, pe.get_dense_pe(), no_mask, [feat_s0, feat_s1])
        return side.img[0], side.pe[0], side.k1, side.v1, side.q1, side.s1, side.s0


class Sam2PromptOnnx(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.prompt_encoder = model.sam_prompt_encoder
        self.mask_decoder = model.sam_mask_decoder
        self.fast = Sam2PointDecoder(model.sam_mask_decoder)
        self.img_size = int(model.image_size)
        self.hw = tuple(int(s) for s in model.sam_prompt_encoder.image_embedding_size)

    def _embed_points(self, coords_xy: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """1 x P x 2 (model-input frame), 1 x P float labels -> 1 x P x C (the prompt encoder's arithmetic)."""
        pe = self.prompt_encoder
        unit = (coords_xy + 0.5) / self.img_size
        proj = (2.0 * unit - 1.0) @ pe.pe_layer.positional_encoding_gaussian_matrix * (2.0 * math.pi)
        emb = torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)
        labels = labels.unsqueeze(-1)
        emb = torch.where(labels == -1, pe.not_a_point_embed.weight, emb)
        for kind, point_embed in enumerate(pe.point_embeddings):
            emb = emb + torch.where(labels == kind, point_embed.weight, 0.0)
        return emb

    @torch.no_grad()
    def forward(self, point_coords, point_labels, side_img, side_pe, side_k1, side_v1, side_q1, side_s1, side_s0):
        dec, fast = self.mask_decoder, self.fast
        side = Sam2ImageSide(img=side_img.unsqueeze(0), pe=side_pe.unsqueeze(0), k1=side_k1, v1=side_v1, q1=side_q1,
                             hw=self.hw, s1=side_s1, s0=side_s0)
        out = fast.transformer(side, self._embed_points(point_coords, point_labels))
        low_res = fast._mask_logits(side, out, slice(None), [0, 1, 2, 3])  # 1 x 4 x 4h x 4w
        iou = torch.cat([out.iou_single, out.iou_pred], dim=1)
        if dec.dynamic_multimask_via_stability:
            single, single_iou = _dynamic_single(dec, low_res, iou)
            low_res = torch.cat([single, low_res[:, 1:]], dim=1)
            iou = torch.cat([single_iou, iou[:, 1:]], dim=1)
        if fast.n_lead:  # the object-score token's final attention, then its head
            tf = fast.tf
            q = out.queries[:, :1]
            q = _ln(tf.norm_final_attn, q + fast._token_to_image(tf.final_attn_token_to_image, q + out.tok_pe[:, :1],
                                                                   out.keys, pe=side.pe))
            score = dec.pred_obj_score_head(q[:, 0])
        else:
            score = torch.full_like(iou[:, :1], 10.0)
        return low_res.clamp(-LOGIT_CLAMP, LOGIT_CLAMP), iou, score


def _dynamic_single(dec: nn.Module, low_res: torch.Tensor, iou: torch.Tensor):
    """dec._dynamic_multimask_via_stability written with gather (one prompt): 1 x 1 x H x W, 1 x 1."""
    best = torch.argmax(iou[:, 1:], dim=-1, keepdim=True)  # 1 x 1
    best_logits = torch.gather(low_res[:, 1:], 1, best.reshape(1, 1, 1, 1).expand(-1, 1, *low_res.shape[2:]))
    best_iou = torch.gather(iou[:, 1:], 1, best)
    single, single_iou = low_res[:, :1], iou[:, :1]
    delta = dec.dynamic_multimask_stability_delta
    flat = single.flatten(-2)
    inter = (flat > delta).sum(-1).float()
    union = (flat > -delta).sum(-1).float()
    stability = torch.where(union > 0, inter / union.clamp(min=1.0), torch.ones_like(union))
    stable = stability >= dec.dynamic_multimask_stability_thresh  # 1 x 1
    return torch.where(stable[..., None, None], single, best_logits), torch.where(stable, single_iou, best_iou)


def export_sam2_split_decoder(model: nn.Module, image_path: str | os.PathLike, prompt_path: str | os.PathLike, *,
                              opset: int = DEFAULT_OPSET, fuse: bool = True) -> tuple[Path, Path]:
    """Write the image graph and prompt graph of a samkit SAM2Base (with high-res features).
    fuse=False keeps the exporter's erf GELU chains (onnx_fusions.py), e.g. to quantise the graph."""
    image_path, prompt_path = Path(image_path), Path(prompt_path)
    model = as_cpu_fp32(model)
    if not getattr(model.sam_mask_decoder, "use_high_res_features", False):
        raise ValueError("this export needs a SAM 2 model with high-res features (use_high_res_features)")
    c = int(model.sam_prompt_encoder.embed_dim)
    h, w = (int(s) for s in model.sam_prompt_encoder.image_embedding_size)
    gen = torch.Generator().manual_seed(0)
    feats = (torch.randn(1, c, h, w, generator=gen), torch.randn(1, c // 8, 4 * h, 4 * w, generator=gen),
             torch.randn(1, c // 4, 2 * h, 2 * w, generator=gen))
    image_graph, prompt_graph = Sam2ImageSideOnnx(model).eval(), Sam2PromptOnnx(model).eval()
    cfg = getattr(model, "config", None)
    meta = {"samkit.model": getattr(cfg, "name", type(model).__name__), "samkit.img_size": str(prompt_graph.img_size),
            "samkit.family": "sam2"}
    num_points = torch.export.Dim("num_points", min=1, max=MAX_POINTS)
    with export_context():
        program = torch.onnx.export(image_graph, feats, dynamo=True, input_names=SAM2_IMAGE_INPUTS,
                                    output_names=SAM2_SIDE_NAMES, opset_version=opset, optimize=True, verbose=False)
        save_atomically(program, image_path, {**meta, "samkit.kind": "sam2-decoder-image-side"})
        side = image_graph(*feats)
        size = float(prompt_graph.img_size)
        example = (torch.rand(1, 2, 2, generator=gen) * size, torch.tensor([[1.0, -1.0]]), *side)
        shapes = {"point_coords": {1: num_points}, "point_labels": {1: num_points},
                  **{name: None for name in SAM2_SIDE_NAMES}}
        program = torch.onnx.export(prompt_graph, example, dynamo=True, input_names=SAM2_PROMPT_INPUTS,
                                    output_names=SAM2_PROMPT_OUTPUTS, dynamic_shapes=shapes, opset_version=opset,
                                    optimize=True, verbose=False)
    save_atomically(program, prompt_path, {
        **meta, "samkit.kind": "sam2-decoder-prompt",
        "samkit.point_coords_frame": "model input: x * img_size / W, y * img_size / H; +0.5 added inside"},
        rewrite=fuse_gelu if fuse else None)
    return image_path, prompt_path
