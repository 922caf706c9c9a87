"""Held-out interactive validation: mIoU after 1 point, after a box, and after each of N clicks.

Deterministic (no randomness), in the style of SAM's and RITM's evaluation: the first click is the
GT mask's most interior pixel (maximum of its distance transform); each next click is the most
interior pixel of the largest-distance error region (false negative -> label 1, false positive ->
label 0), with the previous round's low-res logits fed back as the mask prompt. With one point the
model returns 3 masks and the one with the highest predicted IoU counts. IoU is measured in the
model-input frame (logits upsampled bilinearly to img_size), inside the unpadded image area.
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


def _upsampled_binary(low_logits: torch.Tensor, img_size: int) -> torch.Tensor:
    up = F.interpolate(low_logits[:, None].float(), size=(img_size, img_size), mode="bilinear", align_corners=False)
    return up[:, 0] > 0


@torch.no_grad()
def evaluate_batch(sam, images, masks, image_index, input_hw, num_clicks: int = 5) -> dict[str, torch.Tensor]:
    """Per-mask IoUs for one collated batch: "box" (M), "clicks" (M x num_clicks)."""
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
        pred = _upsampled_binary(low, img_size) & valid
        click_iou.append(mask_iou(pred, gt))
    return {"box": box_iou.cpu(), "clicks": torch.stack(click_iou, dim=1).cpu()}


@torch.no_grad()
def evaluate_interactive(sam, batches, num_clicks: int = 5, device=None) -> dict:
    """mIoU over every mask of `batches` (an iterable of TrainBatch).

    Returns {"miou_1pt", "miou_box", "miou_5pt" (the num_clicks-th click), "miou_clicks": [...],
    "num_masks"}.
    """
    was_training = sam.training
    sam.eval()
    boxes, clicks = [], []
    try:
        for batch in batches:
            if len(batch.masks) == 0:
                continue
            if device is not None:
                batch = batch.to(device)
            out = evaluate_batch(sam, batch.images, batch.masks, batch.image_index, batch.input_hw, num_clicks)
            boxes.append(out["box"])
            clicks.append(out["clicks"])
    finally:
        sam.train(was_training)
    if not boxes:
        raise ValueError("validation set has no usable masks")
    box, click = torch.cat(boxes), torch.cat(clicks)
    per_click = click.mean(dim=0).tolist()
    return {"miou_1pt": per_click[0], "miou_box": float(box.mean()), f"miou_{num_clicks}pt": per_click[-1],
            "miou_clicks": per_click, "num_masks": int(len(box))}
