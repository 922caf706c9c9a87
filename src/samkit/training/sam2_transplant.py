"""Transplant a SAM 1 model's prompt encoder and mask decoder into a SAM 2 model of the same width.

Given the same image embedding, the transplanted SAM 2 heads compute SAM 1's masks, so a SAM 2
encoder distilled onto SAM 1's embedding (samkit.training.distill) starts as a working image
segmenter and video training starts from there. Parameter by parameter:

- same-shaped tensors (prompt encoder, attention, norms, tokens, upscaling, hypernetworks) are copied;
- wider MLPs (the decoder transformer's MLP: SAM 2 hard-codes 2048 hidden units; the IoU head: 256)
  embed SAM 1's: its hidden units first, the extra units' input weights small random (so they can
  learn) and their output weights zero (so they add nothing); ReLU keeps the copied units exact;
- conv_s0 / conv_s1 (SAM 2's high-resolution skips) are zero: the skip features they add are zero;
- no_mem_embed (added to the feature of a frame without memory) is zero;
- the IoU head's last layer is scaled so that SAM 2.1's sigmoid gives about SAM 1's value
  (sigmoid(4x - 2) ~ x on [0.1, 0.9]; same ranking, so the same mask is chosen);
- the object-score head says "object present" (last layer zero, bias +obj_score_logit).

What cannot be exact: SAM 2's object-score token is an extra output token, and every token takes
part in the decoder's attention, so with pred_obj_scores the masks move (the token starts equal to
SAM 1's padding token, which SAM 1 sees in every click prompt). And SAM 2 gives boxes as two corner
points plus a padding token, where SAM 1 embeds a box without one. samkit.training.sam2_head_calibration
fits the heads back to SAM 1's masks under these conventions; without the object token the transplant
is exact (to float rounding) for clicks, boxes-as-SAM-2-feeds-them and mask inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from samkit.errors import InputError

IOU_SIGMOID_SCALE = 4.0  # sigmoid(4x - 2) is within ~0.03 of x for x in [0.1, 0.9]
IOU_SIGMOID_SHIFT = -2.0


def _sam1_key(sam2_key: str) -> str:
    """sam_mask_decoder.transformer.layers.0.mlp.layers.1.weight -> mask_decoder....mlp.lin2.weight."""
    key = sam2_key.removeprefix("sam_")
    return key.replace(".mlp.layers.0.", ".mlp.lin1.").replace(".mlp.layers.1.", ".mlp.lin2.")


@torch.no_grad()
def embed_linear_stack(src: list[nn.Linear], dst: list[nn.Linear], generator: torch.Generator,
                       extra_std: float = 0.02) -> None:
    """Make the ReLU stack `dst` compute `src` exactly: each src layer goes into the top-left corner
    of the wider dst layer; inputs from extra units get zero weight, extra units get small random
    input weights and zero bias (they learn, but add nothing until then)."""
    if len(src) != len(dst):
        raise InputError(f"cannot embed a {len(src)}-layer MLP into a {len(dst)}-layer one")
    for i, (s, d) in enumerate(zip(src, dst)):
        o, n = s.weight.shape
        if d.weight.shape[0] < o or d.weight.shape[1] < n:
            raise InputError(f"layer {i}: SAM 2's {tuple(d.weight.shape)} is narrower than SAM 1's {(o, n)}")
        if i == len(src) - 1 and d.weight.shape[0] != o:
            raise InputError(f"last layers differ in outputs: {d.weight.shape[0]} vs {o}")
        w = torch.randn(d.weight.shape, generator=generator) * extra_std
        w[:o] = 0.0
        w[:o, :n] = s.weight
        d.weight.copy_(w)
        b = torch.zeros_like(d.bias)
        b[:o] = s.bias
        d.bias.copy_(b)


def _check_compatible(sam1, sam2) -> None:
    pe1, pe2 = sam1.prompt_encoder, sam2.sam_prompt_encoder
    problems = []
    if pe1.embed_dim != pe2.embed_dim:
        problems.append(f"prompt width {pe1.embed_dim} vs {pe2.embed_dim}")
    if tuple(pe1.image_embedding_size) != tuple(pe2.image_embedding_size):
        problems.append(f"embedding grid {pe1.image_embedding_size} vs {pe2.image_embedding_size}")
    if tuple(pe1.input_image_size) != tuple(pe2.input_image_size):
        problems.append(f"input size {pe1.input_image_size} vs {pe2.input_image_size}")
    t1, t2 = sam1.mask_decoder.transformer, sam2.sam_mask_decoder.transformer
    if (t1.depth, t1.num_heads) != (t2.depth, t2.num_heads):
        problems.append(f"decoder depth/heads {(t1.depth, t1.num_heads)} vs {(t2.depth, t2.num_heads)}")
    if problems:
        raise InputError("SAM 1 heads do not fit this SAM 2 model: " + "; ".join(problems))


@torch.no_grad()
def transplant_sam1_heads(sam1, sam2, seed: int = 0, extra_std: float = 0.02,
                          obj_score_logit: float = 10.0) -> dict[str, list[str]]:
    """Copy sam1's (a samkit Sam) prompt encoder and mask decoder into sam2 (a SAM2Base) in place.

    Returns {"copied": [...], "embedded": [...], "initialised": [...]} (SAM 2 parameter names).
    """
    _check_compatible(sam1, sam2)
    g = torch.Generator().manual_seed(seed)
    src = sam1.state_dict()
    dst_modules = {"sam_prompt_encoder": sam2.sam_prompt_encoder, "sam_mask_decoder": sam2.sam_mask_decoder}
    report: dict[str, list[str]] = {"copied": [], "embedded": [], "initialised": []}
    dec1, dec2 = sam1.mask_decoder, sam2.sam_mask_decoder

    # Wider MLPs: the transformer MLPs and the IoU head.
    stacks = [([l1.mlp.lin1, l1.mlp.lin2], list(l2.mlp.layers), f"transformer.layers.{i}.mlp")
              for i, (l1, l2) in enumerate(zip(dec1.transformer.layers, dec2.transformer.layers))]
    stacks.append((list(dec1.iou_prediction_head.layers), list(dec2.iou_prediction_head.layers),
                   "iou_prediction_head"))
    for s, d, name in stacks:
        embed_linear_stack(s, d, g, extra_std)
        report["embedded"].append(f"sam_mask_decoder.{name}")

    for prefix, module in dst_modules.items():
        for name, tensor in module.state_dict(keep_vars=True).items():
            full = f"{prefix}.{name}"
            if any(full.startswith(e + ".") for e in report["embedded"]):
                continue
            key = _sam1_key(full)
            if key in src:
                if src[key].shape != tensor.shape:
                    raise InputError(f"{full}: SAM 2 shape {tuple(tensor.shape)} != SAM 1 {tuple(src[key].shape)}")
                tensor.copy_(src[key])
                report["copied"].append(full)

    if dec2.iou_prediction_head.sigmoid_output:
        last = dec2.iou_prediction_head.layers[-1]
        last.weight.mul_(IOU_SIGMOID_SCALE)
        last.bias.mul_(IOU_SIGMOID_SCALE).add_(IOU_SIGMOID_SHIFT)
    if dec2.use_high_res_features:
        for conv in (dec2.conv_s0, dec2.conv_s1):
            conv.weight.zero_()
            conv.bias.zero_()
        report["initialised"] += ["sam_mask_decoder.conv_s0", "sam_mask_decoder.conv_s1"]
    if dec2.pred_obj_scores:
        dec2.obj_score_token.weight.copy_(sam1.prompt_encoder.not_a_point_embed.weight)
        head = dec2.pred_obj_score_head
        last = head.layers[-1] if hasattr(head, "layers") else head
        last.weight.zero_()
        last.bias.fill_(obj_score_logit)
        report["initialised"] += ["sam_mask_decoder.obj_score_token", "sam_mask_decoder.pred_obj_score_head"]
    sam2.no_mem_embed.zero_()
    report["initialised"].append("no_mem_embed")
    missing = [f"{p}.{n}" for p, m in dst_modules.items() for n in m.state_dict()
               if f"{p}.{n}" not in report["copied"]
               and not any(f"{p}.{n}".startswith(e + ".") for e in report["embedded"] + report["initialised"])]
    if missing:
        raise InputError(f"parameters the transplant did not set: {missing}")
    return report


def sam2_style_tokens(prompt_encoder, coords: torch.Tensor | None, labels: torch.Tensor | None,
                      boxes: torch.Tensor | None, masks: torch.Tensor | None):
    """A prompt encoder (SAM 1's or SAM 2's) fed the way SAM 2's predictor feeds its own: a box
    becomes two corner points (labels 2, 3) in front of the clicks, always followed by a padding
    token. coords B x P x 2, labels B x P, boxes B x 4 (model-input pixels), masks B x 1 x 4h x 4w
    logits. Returns (sparse B x T x C, dense B x C x h x w)."""
    if boxes is not None:
        corners = boxes.reshape(-1, 2, 2)
        corner_labels = torch.tensor([[2, 3]], dtype=torch.int, device=boxes.device).repeat(len(corners), 1)
        if coords is not None:
            coords, labels = torch.cat([corners, coords], 1), torch.cat([corner_labels, labels], 1)
        else:
            coords, labels = corners, corner_labels
    points = None if coords is None else (coords, labels)
    return prompt_encoder(points=points, boxes=None, masks=masks)


def sam1_tokens_like_sam2(sam1, coords, labels, boxes, masks):
    """SAM 1's prompt encoder fed as SAM 2's predictor feeds its own (sam2_style_tokens)."""
    return sam2_style_tokens(sam1.prompt_encoder, coords, labels, boxes, masks)


def sam1_low_res_masks(sam1, embedding: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor):
    """SAM 1's decoder on given tokens: (B x 4 x 4h x 4w logits, B x 4 IoU)."""
    return sam1.mask_decoder.predict_masks(embedding, sam1.prompt_encoder.get_dense_pe(), sparse, dense)


def sam2_low_res_masks(sam2, embedding: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor):
    """SAM 2's decoder on given tokens, image embedding fed directly (as on a frame without memory,
    no_mem_embed added; high-res skips zero-projected): (B x 4 x 4h x 4w logits, B x 4 IoU, B x 1
    object-score logits)."""
    dec = sam2.sam_mask_decoder
    feat = embedding + sam2.no_mem_embed.view(1, -1, 1, 1)
    high_res = None
    if dec.use_high_res_features:
        b, c, h, w = feat.shape
        # Stand-in backbone maps of the right shapes; conv_s0 / conv_s1 project them as forward_image does.
        s0 = dec.conv_s0(torch.ones(b, c, 4 * h, 4 * w, device=feat.device))
        s1 = dec.conv_s1(torch.ones(b, c, 2 * h, 2 * w, device=feat.device))
        high_res = [s0, s1]
    masks, iou, _, obj = dec.predict_masks(feat, sam2.sam_prompt_encoder.get_dense_pe(), sparse, dense,
                                           repeat_image=True, high_res_features=high_res)
    return masks, iou, obj


def random_prompts(count: int, image_px: int, generator: torch.Generator, max_clicks: int = 3):
    """`count` prompt sets (coords count x P x 2, labels count x P; P = 1..max_clicks clicks, the first
    foreground) for calibration and tests; coordinates in model-input pixels."""
    p = int(torch.randint(1, max_clicks + 1, (1,), generator=generator))
    coords = torch.rand(count, p, 2, generator=generator) * image_px
    labels = torch.randint(0, 2, (count, p), generator=generator)
    labels[:, 0] = 1
    return coords, labels
