"""Held-out interactive validation: mIoU after 1 point, after a box, and after each of N clicks.

Deterministic (no randomness), in the style of SAM's and RITM's evaluation: the first click is the
GT mask's most interior pixel (maximum of its distance transform); each next click is the most
interior pixel of the largest-distance error region (false negative -> label 1, false positive ->
label 0), with the previous round's low-res logits fed back as the mask prompt. With one point the
model returns 3 masks and the one with the highest predicted IoU counts. IoU is measured in the
model-input frame (logits upsampled bilinearly to img_size), inside the unpadded image area.

Also the first click's AUC: how well the chosen mask's logits rank the object's pixels above the
rest (0.5 = chance), before any threshold. A from-scratch run spends its first hundreds of steps
learning to localise a click while every thresholded mask is still empty and every IoU reads 0;
the AUC shows that progress (docs/training.md, "Why the paper's loss seemed to collapse").
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from samkit.training.losses import mask_iou
from samkit.training.prompts import mask_boxes_xyxy


def most_interior_pixel(region: np.ndarray) -> tuple[int, int, float]:
    """(x, y, distance) of the pixel of region (H x W bool) farthest from its border (image edges
    count as border). distance 0 when region is empty."""
    if not region.any():
        return 0, 0, 0.0
    dist = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return int(x), int(y), float(dist[y, x])


def next_click(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int]:
    """Corrective click (x, y, label) for pred vs gt (H x W bool): the most interior pixel of the
    false-negative or false-positive region, whichever is deeper. label -1 when pred == gt."""
    fx, fy, fd = most_interior_pixel(gt & ~pred)
    px, py, pd = most_interior_pixel(pred & ~gt)
    if fd == 0 and pd == 0:
        return 0, 0, -1
    return (fx, fy, 1) if fd >= pd else (px, py, 0)


def _decode(sam, emb, dense_pe, points, labels, boxes, mask_in, multimask):
    sparse, dense = sam.prompt_encoder(points=(points, labels) if points is not None else None, boxes=boxes, masks=mask_in)
    logits, iou = sam.mask_decoder(image_embeddings=emb, image_pe=dense_pe, sparse_prompt_embeddings=sparse,
                                   dense_prompt_embeddings=dense, multimask_output=multimask)
    best = iou.argmax(dim=1)
    return logits[torch.arange(len(best)), best]  # M x 4h x 4w


def _upsampled(low_logits: torch.Tensor, img_size: int) -> torch.Tensor:
    up = F.interpolate(low_logits[:, None].float(), size=(img_size, img_size), mode="bilinear", align_corners=False)
    return up[:, 0]


def _upsampled_binary(low_logits: torch.Tensor, img_size: int) -> torch.Tensor:
    return _upsampled(low_logits, img_size) > 0


def ranking_auc(scores: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Per-mask ROC AUC of M x H x W scores against M x H x W bool targets (inside `valid`, M x H x W
    bool, where given): the chance that a target pixel scores above a non-target pixel (Mann-Whitney;
    ties are rare in float logits). NaN for a mask with no target or no other pixel."""
    out = torch.full((len(scores),), float("nan"))
    for i in range(len(scores)):
        keep = valid[i] if valid is not None else torch.ones_like(targets[i])
        x, t = scores[i][keep].double(), targets[i][keep]
        n_pos, n_neg = int(t.sum()), int((~t).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = torch.empty_like(x)
        ranks[x.argsort()] = torch.arange(1, len(x) + 1, dtype=x.dtype)
        out[i] = float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return out


@torch.no_grad()
def evaluate_batch(sam, images, masks, image_index, input_hw, num_clicks: int = 5) -> dict[str, torch.Tensor]:
    """Per-mask IoUs for one collated batch: "box" (M), "clicks" (M x num_clicks), and "auc_1pt" (M),
    the first click's ranking AUC (on every 4th pixel of the input frame: the low-res grid's density)."""
    img_size = images.shape[-1]
    emb = sam.image_encoder(images)[image_index]
    dense_pe = sam.prompt_encoder.get_dense_pe()
    valid = torch.zeros_like(masks)
    for j, i in enumerate(image_index.tolist()):
        valid[j, : int(input_hw[i, 0]), : int(input_hw[i, 1])] = True
    gt = masks & valid

    boxes = mask_boxes_xyxy(gt)
    box_iou = mask_iou(_upsampled_binary(_decode(sam, emb, dense_pe, None, None, boxes, None, False), img_size) & valid, gt)

    gt_np, points, labels, mask_in, pred = gt.cpu().numpy(), [], [], None, None
    click_iou = []
    for click in range(num_clicks):
        if click == 0:
            new = [most_interior_pixel(g)[:2] + (1,) for g in gt_np]
        else:
            pred_np = pred.cpu().numpy()
            new = [next_click(p, g) for p, g in zip(pred_np, gt_np)]
        points.append([(x, y) for x, y, _ in new])
        labels.append([lab for _, _, lab in new])
        pts = torch.tensor(points, dtype=torch.float32, device=emb.device).permute(1, 0, 2)  # M x clicks x 2
        lbl = torch.tensor(labels, dtype=torch.long, device=emb.device).T
        low = _decode(sam, emb, dense_pe, pts, lbl, None, mask_in, multimask=click == 0)
        mask_in = low[:, None]
        up = _upsampled(low, img_size)
        if click == 0:
            auc = ranking_auc(up[:, ::4, ::4].cpu(), gt[:, ::4, ::4].cpu(), valid[:, ::4, ::4].cpu())
        pred = (up > 0) & valid
        click_iou.append(mask_iou(pred, gt))
    return {"box": box_iou.cpu(), "clicks": torch.stack(click_iou, dim=1).cpu(), "auc_1pt": auc}


@torch.no_grad()
def evaluate_interactive(sam, batches, num_clicks: int = 5, device=None) -> dict:
    """mIoU over every mask of `batches` (an iterable of TrainBatch).

    Returns {"miou_1pt", "miou_box", "miou_5pt" (the num_clicks-th click), "miou_clicks": [...],
    "auc_1pt" (mean first-click ranking AUC), "num_masks"}.
    """
    was_training = sam.training
    sam.eval()
    boxes, clicks, aucs = [], [], []
    try:
        for batch in batches:
            if len(batch.masks) == 0:
                continue
            if device is not None:
                batch = batch.to(device)
            out = evaluate_batch(sam, batch.images, batch.masks, batch.image_index, batch.input_hw, num_clicks)
            boxes.append(out["box"])
            clicks.append(out["clicks"])
            aucs.append(out["auc_1pt"])
    finally:
        sam.train(was_training)
    if not boxes:
        raise ValueError("validation set has no usable masks")
    box, click, auc = torch.cat(boxes), torch.cat(clicks), torch.cat(aucs)
    per_click = click.mean(dim=0).tolist()
    return {"miou_1pt": per_click[0], "miou_box": float(box.mean()), f"miou_{num_clicks}pt": per_click[-1],
            "miou_clicks": per_click, "auc_1pt": float(auc.nanmean()), "num_masks": int(len(box))}
