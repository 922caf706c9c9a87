"""Held-out validation of a SAM 2 model during training, on clip batches (no augmentation).

Deterministic, with the same click protocol as SAM 1's validation (validation.py: the first click
at the GT's most interior pixel, each next one at the most interior pixel of the larger error
region, the previous low-res logits fed back): mIoU after 1 click, after a box (the GT box as two
corner points) and after N clicks, all on each object's first frame as SAM2ImagePredictor would
segment it; and, for clips of more than one frame, J (mean IoU over the later frames) when the
first frame's GT mask is the prompt and the model tracks the object with its memory, as
SAM2VideoPredictor does. IoUs are measured in the model-input frame (S x S).
"""

from __future__ import annotations

import torch

from samkit.training.losses import mask_iou
from samkit.training.prompts import mask_boxes_xyxy
from samkit.training.validation import most_interior_pixel, next_click


def _frame_features(feats, pos, rows):
    return [x[:, rows] for x in feats], [x[:, rows] for x in pos]


def _segment_first_frame(sam, feats, pos, sizes, point_inputs, prev_logits, num_frames):
    """One decoder pass on frame 0 with no memory (an image): -> (low-res logits N x 1 x h x w,
    binary masks N x S x S)."""
    out = sam.track_step(0, True, feats, pos, sizes, point_inputs, None, {"cond_frame_outputs": {},
                         "non_cond_frame_outputs": {}}, num_frames, run_mem_encoder=False,
                         prev_sam_mask_logits=prev_logits)
    return out["pred_masks"], out["pred_masks_high_res"][:, 0] > 0


def _clicks_and_box(sam, feats, pos, sizes, gt: torch.Tensor, num_clicks: int, num_frames: int):
    """gt: N x S x S bool (frame 0) -> (box IoU N, click IoUs N x num_clicks)."""
    device = gt.device
    box = mask_boxes_xyxy(gt).reshape(-1, 2, 2)
    box_inputs = {"point_coords": box, "point_labels": torch.tensor([[2, 3]], dtype=torch.int32,
                                                                     device=device).repeat(len(gt), 1)}
    _, box_pred = _segment_first_frame(sam, feats, pos, sizes, box_inputs, None, num_frames)
    box_iou = mask_iou(box_pred, gt)

    gt_np = gt.cpu().numpy()
    coords: list[list[tuple[int, int]]] = []
    labels: list[list[int]] = []
    logits = pred = None
    ious = []
    for click in range(num_clicks):
        if click == 0:
            new = [most_interior_pixel(g)[:2] + (1,) for g in gt_np]
        else:
            new = [next_click(p, g) for p, g in zip(pred.cpu().numpy(), gt_np)]
        coords.append([(x, y) for x, y, _ in new])
        labels.append([lab for _, _, lab in new])
        inputs = {"point_coords": torch.tensor(coords, dtype=torch.float32, device=device).permute(1, 0, 2),
                  "point_labels": torch.tensor(labels, dtype=torch.int32, device=device).T.contiguous()}
        logits, pred = _segment_first_frame(sam, feats, pos, sizes, inputs, logits, num_frames)
        ious.append(mask_iou(pred, gt))
    return box_iou, torch.stack(ious, dim=1)


def _track_from_first_mask(sam, feats, pos, sizes, obj_clip, gt_frames: list[torch.Tensor], num_frames: int):
    """J per object: mean IoU over frames 1.. when frame 0's GT mask is the prompt -> N."""
    output_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
    ious = []
    for t in range(num_frames):
        f, p = _frame_features(feats, pos, obj_clip * num_frames + t)
        mask_in = gt_frames[0][:, None].float() if t == 0 else None
        out = sam.track_step(t, t == 0, f, p, sizes, None, mask_in, output_dict, num_frames)
        output_dict["cond_frame_outputs" if t == 0 else "non_cond_frame_outputs"][t] = out
        if t > 0:
            ious.append(mask_iou(out["pred_masks_high_res"][:, 0] > 0, gt_frames[t]))
    return torch.stack(ious, dim=1).mean(dim=1)


@torch.no_grad()
def evaluate_sam2(sam, batches, num_clicks: int = 5, device=None) -> dict:
    """Metrics over every valid object of `batches` (an iterable of ClipBatch): {"miou_1pt",
    "miou_box", "miou_<N>pt", "miou_clicks": [...], "num_masks"} and, for clips, "j_mask" and
    "num_tracks"."""
    was_training = sam.training
    sam.eval()
    boxes, clicks, tracks = [], [], []
    try:
        for batch in batches:
            if device is not None:
                batch = batch.to(device)
            obj_clip, obj_slot = torch.nonzero(batch.valid, as_tuple=True)
            if len(obj_clip) == 0:
                continue
            t_len = batch.images.shape[1]
            backbone_out = sam.forward_image(batch.images.flatten(0, 1))
            _, feats, pos, sizes = sam._prepare_backbone_features(backbone_out)
            gt = [batch.masks[obj_clip, t, obj_slot] for t in range(t_len)]
            f0, p0 = _frame_features(feats, pos, obj_clip * t_len)
            box_iou, click_iou = _clicks_and_box(sam, f0, p0, sizes, gt[0], num_clicks, t_len)
            boxes.append(box_iou.cpu())
            clicks.append(click_iou.cpu())
            if t_len > 1:
                tracks.append(_track_from_first_mask(sam, feats, pos, sizes, obj_clip, gt, t_len).cpu())
    finally:
        sam.train(was_training)
    if not boxes:
        raise ValueError("validation set has no usable objects")
    box, click = torch.cat(boxes), torch.cat(clicks)
    per_click = click.mean(dim=0).tolist()
    res = {"miou_1pt": per_click[0], "miou_box": float(box.mean()), f"miou_{num_clicks}pt": per_click[-1],
           "miou_clicks": per_click, "num_masks": int(len(box))}
    if tracks:
        j = torch.cat(tracks)
        res.update(j_mask=float(j.mean()), num_tracks=int(len(j)))
    return res


def summary_line(res: dict, num_clicks: int) -> str:
    line = (f"mIoU 1pt {res['miou_1pt']:.3f}  box {res['miou_box']:.3f}  {num_clicks}pt "
            f"{res[f'miou_{num_clicks}pt']:.3f}  ({res['num_masks']} objects)")
    if "j_mask" in res:
        line += f"  J from first-frame mask {res['j_mask']:.3f} ({res['num_tracks']} tracks)"
    return line

