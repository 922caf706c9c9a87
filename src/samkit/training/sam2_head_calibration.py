"""Calibrate transplanted SAM 2 heads (samkit.training.sam2_transplant) to SAM 1's masks under SAM 2's
prompt conventions.

The transplant is exact except for two things SAM 2 adds to every prompt: the object-score output
token (it takes part in the decoder's attention) and, for boxes, a padding token SAM 1 never saw with
a box (SAM 2 gives boxes as corner points, then pads). Measured on the built-in model, the padding
alone cost ~0.04 box mIoU on held-out COCO photos. Calibration fits the SAM 2 heads to SAM 1's own
outputs (SAM 1 prompted its native way: boxes without padding) on SAM 1 image embeddings and random
prompts: clicks, boxes, box + click, and clicks with a previous mask, as interactive use feeds back.

Shapes: embeddings N x C x h x w; prompts in model-input pixels; masks B x 4 x 4h x 4w logits.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from samkit.training.sam2_transplant import (
    IOU_SIGMOID_SCALE, IOU_SIGMOID_SHIFT, random_prompts, sam1_low_res_masks, sam2_low_res_masks, sam2_style_tokens,
)

OBJ_TOKEN = "sam_mask_decoder.obj_score_token.weight"
# Not calibrated: the object-score head has no SAM 1 target; the high-res skips see no real
# backbone maps here (they stay zero until video training).
FROZEN_PREFIXES = ("sam_mask_decoder.pred_obj_score_head.", "sam_mask_decoder.conv_s0.", "sam_mask_decoder.conv_s1.")


def _random_case(sam1, count: int, image_px: int, g: torch.Generator, emb: torch.Tensor):
    """One batch of prompts: (coords, labels, boxes, masks) for both models, SAM 1's mask input
    included (its own best first-click logits, as the click protocol feeds back)."""
    kind = torch.rand(1, generator=g).item()
    boxes = None
    if kind < 0.5:
        xy = torch.sort(torch.rand(count, 2, 2, generator=g) * image_px, dim=1)[0]
        boxes = xy.reshape(-1, 4)
    if kind < 0.3:
        return None, None, boxes, None
    coords, labels = random_prompts(count, image_px, g, max_clicks=1 if boxes is not None else 3)
    masks = None
    if boxes is None and kind > 0.8:
        with torch.no_grad():
            sparse, dense = sam1.prompt_encoder(points=(coords[:, :1], labels[:, :1]), boxes=None, masks=None)
            logits, iou = sam1_low_res_masks(sam1, emb, sparse, dense)
            best = iou[:, 1:].argmax(1) + 1
            masks = logits[torch.arange(count), best][:, None]
    return coords, labels, boxes, masks


def calibrate_heads(sam1, sam2, embeddings: torch.Tensor, steps: int = 300, lr: float = 1e-4,
                    token_lr: float = 0.02, prompts_per_step: int = 16, which: str = "heads",
                    seed: int = 0) -> list[float]:
    """Fit sam2's prompt encoder and mask decoder (which="heads") or only its object-score token
    (which="obj_token") to sam1's outputs. Loss: BCE of SAM 2's four mask logits against SAM 1's
    probabilities, plus the squared error of SAM 2's (sigmoid) IoU against sigmoid(4 x SAM 1's - 2).
    Modifies sam2 in place; every other parameter is left untouched. Returns the loss per step."""
    if which not in ("heads", "obj_token"):
        raise ValueError(f"which must be 'heads' or 'obj_token', got {which!r}")
    named = dict(sam2.named_parameters())
    if which == "obj_token":
        names = [OBJ_TOKEN] if OBJ_TOKEN in named else []
    else:
        names = [n for n in named if n.startswith(("sam_prompt_encoder.", "sam_mask_decoder."))
                 and not n.startswith(FROZEN_PREFIXES)]
    if not names:
        return []
    trainable = {n: named[n] for n in names}
    before = {n: p.requires_grad for n, p in named.items()}
    for n, p in named.items():
        p.requires_grad_(n in trainable)
    groups = [{"params": [p for n, p in trainable.items() if n != OBJ_TOKEN], "lr": lr},
              {"params": [p for n, p in trainable.items() if n == OBJ_TOKEN], "lr": token_lr}]
    opt = torch.optim.Adam([gr for gr in groups if gr["params"]])
    g = torch.Generator().manual_seed(seed)
    image_px = sam1.prompt_encoder.input_image_size[0]
    was_training = sam2.training
    sam2.train()
    losses = []
    try:
        for _ in range(steps):
            emb = embeddings[int(torch.randint(len(embeddings), (1,), generator=g))][None]
            coords, labels, boxes, masks = _random_case(sam1, prompts_per_step, image_px, g, emb)
            with torch.no_grad():
                points = None if coords is None else (coords, labels)
                sparse1, dense1 = sam1.prompt_encoder(points=points, boxes=boxes, masks=masks)
                target, target_iou = sam1_low_res_masks(sam1, emb, sparse1, dense1)
            sparse2, dense2 = sam2_style_tokens(sam2.sam_prompt_encoder, coords, labels, boxes, masks)
            pred, pred_iou, _ = sam2_low_res_masks(sam2, emb, sparse2, dense2)
            loss = F.binary_cross_entropy_with_logits(pred, torch.sigmoid(target))
            if sam2.sam_mask_decoder.iou_prediction_head.sigmoid_output:
                iou_target = torch.sigmoid(IOU_SIGMOID_SCALE * target_iou + IOU_SIGMOID_SHIFT)
                loss = loss + F.mse_loss(pred_iou, iou_target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        for n, p in named.items():
            p.requires_grad_(before[n])
            p.grad = None
        sam2.train(was_training)
    return losses


@torch.no_grad()
def agreement_with_sam1(sam1, sam2, embeddings: torch.Tensor, prompts_per_image: int = 32,
                        seed: int = 1) -> dict[str, float]:
    """Mean IoU between SAM 1's (native prompts) and SAM 2's (SAM 2 prompts) binarised best masks,
    for one click and for one box per prompt, over the given embeddings."""
    g = torch.Generator().manual_seed(seed)
    image_px = sam1.prompt_encoder.input_image_size[0]
    scores: dict[str, list[float]] = {"click": [], "box": []}
    for emb in embeddings:
        emb = emb[None]
        coords, labels = random_prompts(prompts_per_image, image_px, g, max_clicks=1)
        boxes = torch.sort(torch.rand(prompts_per_image, 2, 2, generator=g) * image_px, dim=1)[0].reshape(-1, 4)
        for kind, (c, l, b) in {"click": (coords, labels, None), "box": (None, None, boxes)}.items():
            m1, i1 = sam1_low_res_masks(sam1, emb, *sam1.prompt_encoder(
                points=None if c is None else (c, l), boxes=b, masks=None))
            m2, i2, _ = sam2_low_res_masks(sam2, emb, *sam2_style_tokens(sam2.sam_prompt_encoder, c, l, b, None))
            # Clicks: the best of the 3 multimask outputs; boxes: the single-mask output.
            rows = torch.arange(len(m1))
            a = (m1[rows, i1[:, 1:].argmax(1) + 1] if kind == "click" else m1[:, 0]) > 0
            bb = (m2[rows, i2[:, 1:].argmax(1) + 1] if kind == "click" else m2[:, 0]) > 0
            inter = (a & bb).flatten(1).sum(1).float()
            union = (a | bb).flatten(1).sum(1).float()
            scores[kind] += torch.where(union > 0, inter / union.clamp(min=1), 1.0).tolist()
    return {k: float(sum(v) / max(len(v), 1)) for k, v in scores.items()}
