"""One training step of SAM's interactive procedure as an nn.Module (so DDP can wrap it).

Per step: image embeddings are computed once per image (or taken from a cache when the encoder is
frozen), each GT mask gets its own prompt sequence (prompts.py), and the decoder runs the rounds of
`round_schedule` with the previous round's unthresholded low-res logits fed back as the mask
prompt. Masks are split into a point-first group and a box-first group, because a batch fed to the
prompt encoder has either boxes for all prompts or for none; both groups share the schedule.

Losses are computed on the decoder's low-res grid (4h x 4w: 256 x 256 for SAM) against the GT
downsampled by area, and averaged over rounds.
"""

from __future__ import annotations

import torch
from torch import nn

from samkit.training.losses import LossConfig, mask_iou, sam_loss
from samkit.training.prompts import (
    FIRST, MASK_ONLY, POINT, PromptSimConfig, downsample_masks, error_points, first_points, noisy_boxes,
    round_schedule,
)


def valid_grid(input_hw: torch.Tensor, img_size: int, grid_hw: tuple[int, int]) -> torch.Tensor:
    """B x 2 valid (unpadded) sizes -> B x h x w bool: grid cells whose centre lies in the image."""
    h, w = grid_hw
    ys = (torch.arange(h) + 0.5) * (img_size / h)
    xs = (torch.arange(w) + 0.5) * (img_size / w)
    hw = input_hw.float()
    return (ys[None, :, None] < hw[:, 0, None, None]) & (xs[None, None, :] < hw[:, 1, None, None])


class InteractiveSamStep(nn.Module):
    """forward(images, masks, image_index, input_hw, seed) -> (loss, metrics).

    images: B x 3 x S x S normalised + padded; masks: M x S x S bool (model-input frame);
    image_index: M; input_hw: B x 2. `encoder_trainable=False` runs the encoder without grad and,
    with `embedding_cache` (a dict) and `keys`, reuses embeddings of un-augmented images.
    """

    def __init__(self, sam: nn.Module, prompt_cfg: PromptSimConfig = PromptSimConfig(),
                 loss_cfg: LossConfig = LossConfig(), encoder_trainable: bool = True,
                 embedding_cache: dict | None = None):
        super().__init__()
        self.sam = sam
        self.prompt_cfg, self.loss_cfg = prompt_cfg, loss_cfg
        self.encoder_trainable = encoder_trainable
        self.embedding_cache = embedding_cache

    def embed(self, images: torch.Tensor, keys: list[str] | None = None) -> torch.Tensor:
        """B x 3 x S x S -> B x C x h x w image embeddings."""
        if self.encoder_trainable:
            return self.sam.image_encoder(images)
        if self.embedding_cache is None or keys is None:
            with torch.no_grad():
                return self.sam.image_encoder(images)
        missing = [i for i, k in enumerate(keys) if k not in self.embedding_cache]
        if missing:
            with torch.no_grad():
                new = self.sam.image_encoder(images[missing])
            for i, e in zip(missing, new):
                self.embedding_cache[keys[i]] = e.detach().to("cpu", torch.float32)
        return torch.stack([self.embedding_cache[k] for k in keys]).to(images.device)

    def forward(self, images, masks, image_index, input_hw, seed: int, keys: list[str] | None = None):
        gen = torch.Generator(device=images.device).manual_seed(int(seed))
        emb = self.embed(images, keys)
        if len(masks) == 0:
            # No usable mask in this micro-batch: a zero loss that still touches the graph, so
            # DDP ranks stay in step.
            return emb.sum() * 0.0, self._empty_logs()
        img_size = images.shape[-1]
        low_hw = tuple(x * 4 for x in emb.shape[-2:])
        gt_low = downsample_masks(masks, low_hw)
        # A mask that vanishes on the loss grid (smaller than half a low-res cell everywhere) has an
        # empty target: it would only teach "predict nothing", so it is left out of this step.
        keep = gt_low.flatten(1).any(dim=1)
        if not bool(keep.all()):
            masks, gt_low, image_index = masks[keep], gt_low[keep], image_index[keep]
        if len(masks) == 0:
            return emb.sum() * 0.0, self._empty_logs()
        valid_low = valid_grid(input_hw, img_size, low_hw).to(masks.device)[image_index]
        dense_pe = self.sam.prompt_encoder.get_dense_pe()
        schedule = round_schedule(self.prompt_cfg, gen)
        use_box = torch.rand(len(masks), generator=gen, device=masks.device) < self.prompt_cfg.box_prob

        total, logs = 0.0, {"focal": 0.0, "dice": 0.0, "iou_mse": 0.0}
        round_iou = torch.zeros(len(schedule))
        for group_is_box in (False, True):
            sel = torch.nonzero(use_box == group_is_box).flatten()
            if len(sel) == 0:
                continue
            out = self._rounds(emb[image_index[sel]], dense_pe, masks[sel], gt_low[sel], valid_low[sel],
                               input_hw[image_index[sel].cpu()], group_is_box, schedule, img_size, gen)
            weight = len(sel) / len(masks)
            total = total + weight * out["loss"]
            for k in logs:
                logs[k] += weight * out[k]
            round_iou += weight * out["round_iou"]
        logs.update(loss=float(total.detach()), num_masks=len(masks), round_iou=round_iou.tolist())
        return total, logs

    @staticmethod
    def _empty_logs() -> dict:
        # The same keys as a normal step: the trainer all-reduces logs by key across DDP ranks.
        return {"loss": 0.0, "focal": 0.0, "dice": 0.0, "iou_mse": 0.0, "num_masks": 0}

    def _rounds(self, emb, dense_pe, gt, gt_low, valid_low, valid_hw, is_box, schedule, img_size, gen):
        pe, dec = self.sam.prompt_encoder, self.sam.mask_decoder
        points = labels = mask_in = prev_pred = None
        boxes = noisy_boxes(gt, valid_hw, self.prompt_cfg, img_size, gen) if is_box else None
        losses, focal, dice, iou_mse, round_iou = [], 0.0, 0.0, 0.0, []
        for kind in schedule:
            if kind == FIRST and not is_box:
                points, labels = first_points(gt, gen)
            elif kind == POINT:
                p, l = error_points(prev_pred, gt_low, valid_low, img_size, gen)
                points = p if points is None else torch.cat([points, p], dim=1)
                labels = l if labels is None else torch.cat([labels, l], dim=1)
            # Ambiguity-aware (3) outputs only for a lone point: with more prompts the target is clear.
            multimask = kind == FIRST and not is_box
            sparse, dense = pe(points=(points, labels) if points is not None else None, boxes=boxes, masks=mask_in)
            logits, iou_pred = dec(image_embeddings=emb, image_pe=dense_pe, sparse_prompt_embeddings=sparse,
                                   dense_prompt_embeddings=dense, multimask_output=multimask)
            out = sam_loss(logits, iou_pred, gt_low, self.loss_cfg)
            losses.append(out.total)
            focal, dice, iou_mse = focal + float(out.focal), dice + float(out.dice), iou_mse + float(out.iou_mse)
            # Feed back (and sample the next point from) the output the model itself ranks best.
            best = iou_pred.detach().argmax(dim=1)
            chosen = logits.detach()[torch.arange(len(best)), best]
            mask_in = chosen[:, None]
            prev_pred = chosen > 0
            round_iou.append(float(mask_iou(prev_pred & valid_low, gt_low).mean()))
        n = len(schedule)
        return {"loss": torch.stack(losses).mean(), "focal": focal / n, "dice": dice / n, "iou_mse": iou_mse / n,
                "round_iou": torch.tensor(round_iou)}
