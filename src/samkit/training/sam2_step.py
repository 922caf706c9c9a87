"""One training step of SAM 2's procedure on a batch of clips, as an nn.Module (so DDP can wrap it).

What the reference's `SAM2Train.forward` does, on samkit's SAM2Base: image features of every frame
once; a prompt plan per micro-batch (sam2_prompts.py: a mask, clicks or a box on 1-2 initial
conditioning frames); frames tracked in order (initial conditioning frames first) with memory
carried across the clip; corrective clicks sampled from the error region on the chosen frames, each
click one more decoder step with the previous low-res logits fed back; the final mask of each frame
encoded into memory. Losses (sam2_losses.py) over every frame and every step, with occlusion
targets (object score) where an object is absent.

Objects: a ClipBatch holds B clips x O object slots (`valid` says which are real); every real
(clip, object) pair is tracked as one row of the model's batch, looking at its clip's frames.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from samkit.training.losses import LossConfig, mask_iou
from samkit.training.prompts import downsample_masks
from samkit.training.sam2_losses import Sam2LossConfig, clip_loss
from samkit.training.sam2_prompts import (
    Sam2PromptConfig, box_corner_points, concat_points, error_clicks, plan_clip_prompts,
)

LOSS_GRIDS = ("image", "low_res")


class Sam2ClipStep(nn.Module):
    """forward(images, masks, valid, seed) -> (loss, logs).

    images: B x T x 3 x S x S (SAM 2 normalisation, S = the model's image_size); masks: B x T x O x
    S x S bool; valid: B x O bool. `loss_grid`: "image" computes the mask losses on S x S logits
    (bilinearly upsampled, as the reference), "low_res" on the decoder's S/4 x S/4 logits against
    the area-downsampled GT (16x fewer pixels: the cheap choice on a CPU). `encoder_trainable=False`
    runs the image encoder without gradients (frozen-encoder, decoder-only and LoRA-less modes).
    """

    def __init__(self, sam: nn.Module, prompt_cfg: Sam2PromptConfig = Sam2PromptConfig(),
                 loss_cfg: LossConfig = LossConfig(), sam2_loss_cfg: Sam2LossConfig = Sam2LossConfig(),
                 loss_grid: str = "image", encoder_trainable: bool = True):
        super().__init__()
        if loss_grid not in LOSS_GRIDS:
            raise ValueError(f"loss_grid must be one of {LOSS_GRIDS}, got {loss_grid!r}")
        self.sam = sam
        self.prompt_cfg, self.loss_cfg, self.sam2_loss_cfg = prompt_cfg, loss_cfg, sam2_loss_cfg
        self.loss_grid, self.encoder_trainable = loss_grid, encoder_trainable

    def backbone(self, frames: torch.Tensor) -> dict:
        """(B*T) x 3 x S x S -> backbone_out as SAM2Base.forward_image, the encoder under no_grad
        unless it is trained (the decoder's high-res projections conv_s0/conv_s1 always train)."""
        sam = self.sam
        with torch.set_grad_enabled(self.encoder_trainable and torch.is_grad_enabled()):
            out = sam.image_encoder(frames)
        out = dict(out, backbone_fpn=list(out["backbone_fpn"]))
        if sam.use_high_res_features_in_sam:
            out["backbone_fpn"][0] = sam.sam_mask_decoder.conv_s0(out["backbone_fpn"][0])
            out["backbone_fpn"][1] = sam.sam_mask_decoder.conv_s1(out["backbone_fpn"][1])
        return out

    def forward(self, images: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor, seed: int):
        # Dropout (memory attention has p = 0.1) draws from the global generator; seeding it per step
        # inside a fork makes a resumed run repeat an uninterrupted one exactly, whatever else
        # (a DataLoader's base seed, validation) consumed global random numbers in between.
        devices = [images.device.index or 0] if images.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed) % 2**63)
            return self._forward(images, masks, valid, seed)

    def _forward(self, images: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor, seed: int):
        sam = self.sam
        b, t_len = images.shape[:2]
        rng = np.random.default_rng([int(seed), 1])
        gen = torch.Generator(device=images.device).manual_seed(int(seed))
        backbone_out = self.backbone(images.flatten(0, 1))
        obj_clip, obj_slot = torch.nonzero(valid.to(images.device), as_tuple=True)
        if len(obj_clip) == 0:
            # Nothing to track in this micro-batch: a zero loss that still touches the graph, so
            # DDP ranks stay in step.
            return self._zero_touching_params(), self._empty_logs()
        _, feats, pos, feat_sizes = sam._prepare_backbone_features(backbone_out)
        gt = [masks[obj_clip, t, obj_slot] for t in range(t_len)]  # per frame: N x S x S bool
        plan = plan_clip_prompts(self.prompt_cfg, t_len, rng)
        point_inputs, mask_inputs = {}, {}
        for t in plan.init_cond_frames:
            if not plan.use_pt_input:
                mask_inputs[t] = gt[t][:, None].float()
            elif t in plan.box_frames:
                point_inputs[t] = concat_points(None, *box_corner_points(gt[t], self.prompt_cfg, gen))
            else:
                point_inputs[t] = concat_points(None, *error_clicks(gt[t], None, gen))  # one click inside the GT

        output_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        frame_steps: dict[int, list] = {}
        final_iou = torch.zeros(t_len)
        for t in plan.processing_order:
            rows = obj_clip * t_len + t  # this frame of each object's clip
            out, steps = self._track_frame(t, t in plan.init_cond_frames, [x[:, rows] for x in feats],
                                           [x[:, rows] for x in pos], feat_sizes, point_inputs.get(t),
                                           mask_inputs.get(t), gt[t], t in plan.frames_to_correct, output_dict,
                                           t_len, gen, rng)
            frame_steps[t] = steps
            as_cond = t in plan.init_cond_frames or (self.prompt_cfg.add_all_frames_to_correct_as_cond
                                                    and t in plan.frames_to_correct)
            output_dict["cond_frame_outputs" if as_cond else "non_cond_frame_outputs"][t] = out
            final_iou[t] = float(mask_iou(out["pred_masks_high_res"].detach()[:, 0] > 0, gt[t]).mean())

        targets = [self._target(gt[t]) for t in range(t_len)]
        total, logs = clip_loss([frame_steps[t] for t in range(t_len)], targets, self.loss_cfg, self.sam2_loss_cfg)
        if not total.requires_grad:
            # Every frame had its mask given (an image with a mask prompt cannot occur, but a short clip
            # of given masks can): a zero loss that still touches the graph, so DDP ranks stay in step.
            total = total + self._zero_touching_params()
        logs.update(loss=float(total.detach()), num_objects=len(obj_clip), iou_first_frame=float(final_iou[0]),
                    iou_other_frames=float(final_iou[1:].mean()) if t_len > 1 else float(final_iou[0]),
                    used_points=float(plan.use_pt_input))
        return total, logs

    def _target(self, gt: torch.Tensor) -> torch.Tensor:
        if self.loss_grid == "image":
            return gt
        side = self.sam.image_size // 4
        return downsample_masks(gt, (side, side))

    def _step_output(self, sam_outputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(multi-mask logits on the loss grid, ious, object score logits) of one decoder step."""
        low_multi, high_multi, ious, _, _, _, obj_score = sam_outputs
        return (high_multi if self.loss_grid == "image" else low_multi), ious, obj_score

    def _track_frame(self, t, is_init, feats, pos, feat_sizes, point_inputs, mask_inputs, gt, correct,
                     output_dict, num_frames, gen, rng):
        """One frame of one clip batch: SAM2Base._track_step, then (on frames to correct) the
        corrective-click steps, then the memory encoder on the final mask (the reference's
        SAM2Train.track_step). Returns (frame output dict, [(logits, ious, object score) per step])."""
        sam = self.sam
        current_out, sam_outputs, high_res_features, pix_feat = sam._track_step(
            t, is_init, feats, pos, feat_sizes, point_inputs, mask_inputs, output_dict, num_frames, False, None)
        steps = [self._step_output(sam_outputs)]
        _, _, _, low_res_masks, high_res_masks, obj_ptr, object_score_logits = sam_outputs
        if correct:
            for _ in range(self.prompt_cfg.num_correction_pt_per_frame):
                from_gt = self.training and rng.random() < self.prompt_cfg.prob_to_sample_from_gt
                pred = None if from_gt else high_res_masks.detach()[:, 0] > 0
                point_inputs = concat_points(point_inputs, *error_clicks(gt, pred, gen))
                # The frame's current logits come back with the new click (as a user's correction).
                sam_outputs = sam._forward_sam_heads(
                    backbone_features=pix_feat, point_inputs=point_inputs, mask_inputs=low_res_masks,
                    high_res_features=high_res_features, multimask_output=sam._use_multimask(is_init, point_inputs))
                steps.append(self._step_output(sam_outputs))
                _, _, _, low_res_masks, high_res_masks, obj_ptr, object_score_logits = sam_outputs
        current_out["pred_masks"], current_out["pred_masks_high_res"] = low_res_masks, high_res_masks
        current_out["obj_ptr"] = obj_ptr
        sam._encode_memory_in_output(feats, feat_sizes, point_inputs, True, high_res_masks, object_score_logits,
                                     current_out)
        return current_out, steps

    def _zero_touching_params(self) -> torch.Tensor:
        """0, as a tensor in the graph of every trainable parameter (DDP then all-reduces a zero grad)."""
        return sum(p.reshape(-1)[0] for p in self.parameters() if p.requires_grad) * 0.0

    @staticmethod
    def _empty_logs() -> dict:
        # The same keys as a normal step: the trainer all-reduces logs by key across DDP ranks.
        return {"loss": 0.0, "focal": 0.0, "dice": 0.0, "iou": 0.0, "object_score": 0.0, "num_objects": 0,
                "iou_first_frame": 0.0, "iou_other_frames": 0.0, "used_points": 0.0}
