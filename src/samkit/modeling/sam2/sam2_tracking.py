"""SAM 2's per-frame tracking step, mixed into SAM2Base: condition the frame's features on the
memory bank, run the SAM heads, and encode the result into a new memory.

The memory bank is the video predictor's `output_dict`: {"cond_frame_outputs": {frame_idx: out},
"non_cond_frame_outputs": {frame_idx: out}}, each `out` holding "maskmem_features" (B x mem_dim x
h x w), "maskmem_pos_enc" ([B x mem_dim x h x w]) and "obj_ptr" (B x C). Conditioning frames are
those the user prompted; they always stay in memory (temporal position 0). Features are
sequence-first (HW x B x C), as _prepare_backbone_features returns them.

The bf16 fast path: when the model's `encoder_dtype` is not float32, the memory attention runs under
autocast in that dtype too (its attention over up to 7 x 4096 memory tokens is most of a tracked
frame's time after the image encoder; RoPEAttention keeps projections and rotations in fp32 and
runs only the attention itself in bf16); its output is cast back to float32, so the prompt encoder,
the mask decoder and the stored outputs see the same dtypes as on the fp32 path. The memory encoder
stays fp32: its convolutions on 1-16 channel maps are slower in bf16 on CPU (measured 2x).
With encoder_dtype float32 (the default) nothing changes: results are the reference's.
"""

from __future__ import annotations

import contextlib

import torch


def select_closest_cond_frames(frame_idx: int, cond_frame_outputs: dict, max_cond_frame_num: int):
    """Keep at most max_cond_frame_num conditioning frames: the closest before frame_idx, the closest
    at/after it, then the temporally closest others. Returns (selected, unselected) dicts."""
    if max_cond_frame_num == -1 or len(cond_frame_outputs) <= max_cond_frame_num:
        return cond_frame_outputs, {}
    if max_cond_frame_num < 2:
        raise ValueError("max_cond_frames_in_attn must be -1 or at least 2")
    selected = {}
    idx_before = max((t for t in cond_frame_outputs if t < frame_idx), default=None)
    if idx_before is not None:
        selected[idx_before] = cond_frame_outputs[idx_before]
    idx_after = min((t for t in cond_frame_outputs if t >= frame_idx), default=None)
    if idx_after is not None:
        selected[idx_after] = cond_frame_outputs[idx_after]
    num_remain = max_cond_frame_num - len(selected)
    others = sorted((t for t in cond_frame_outputs if t not in selected), key=lambda t: abs(t - frame_idx))
    selected.update((t, cond_frame_outputs[t]) for t in others[:num_remain])
    unselected = {t: v for t, v in cond_frame_outputs.items() if t not in selected}
    return selected, unselected


def get_1d_sine_pe(pos_inds: torch.Tensor, dim: int, temperature: float = 10000) -> torch.Tensor:
    """Transformer sine encoding of positions: (...) -> (... x dim), sines then cosines."""
    pe_dim = dim // 2
    dim_t = torch.arange(pe_dim, dtype=torch.float32, device=pos_inds.device)
    dim_t = temperature ** (2 * (dim_t // 2) / pe_dim)
    pos_embed = pos_inds.unsqueeze(-1) / dim_t
    return torch.cat([pos_embed.sin(), pos_embed.cos()], dim=-1)


class SAM2TrackingMixin:
    """Tracking methods of SAM2Base (the reference's names and arguments)."""

    def _tracking_autocast(self, device: torch.device):
        """Autocast in encoder_dtype for the memory attention (the bf16 fast path), else nothing."""
        dtype = getattr(self, "encoder_dtype", torch.float32)
        if dtype not in (torch.bfloat16, torch.float16):  # fp32, or int8 (an OpenVINO encoder's precision)
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=dtype)

    def _memory_frames(self, frame_idx: int, output_dict: dict, unselected_cond: dict,
                       track_in_reverse: bool) -> list:
        """(t_pos, out) for the num_maskmem - 1 previous non-conditioning frames; t_pos 1 is the oldest.

        The last frame is always the adjacent one; older ones are taken every
        memory_temporal_stride_for_eval-th frame in eval (stride 1 in training).
        """
        stride = 1 if self.training else self.memory_temporal_stride_for_eval
        frames = []
        for t_pos in range(1, self.num_maskmem):
            t_rel = self.num_maskmem - t_pos  # frames before the current one
            if t_rel == 1:
                prev = frame_idx + t_rel if track_in_reverse else frame_idx - t_rel
            elif not track_in_reverse:
                prev = ((frame_idx - 2) // stride) * stride - (t_rel - 2) * stride
            else:
                prev = -(-(frame_idx + 2) // stride) * stride + (t_rel - 2) * stride
            out = output_dict["non_cond_frame_outputs"].get(prev, None)
            if out is None:
                # An unselected conditioning frame among the last frames is used like any other.
                out = unselected_cond.get(prev, None)
            frames.append((t_pos, out))
        return frames

    def _object_pointer_memory(self, frame_idx: int, selected_cond: dict, unselected_cond: dict,
                               output_dict: dict, num_frames: int, track_in_reverse: bool, batch: int,
                               device: torch.device):
        """Object pointers as memory tokens: (tokens P x B x mem_dim, pos P x B x mem_dim) or None."""
        c = self.hidden_dim
        max_ptrs = min(num_frames, self.max_obj_ptrs_in_encoder)
        if not self.training and self.only_obj_ptrs_in_the_past_for_eval:
            ptr_cond = {t: out for t, out in selected_cond.items()
                        if (t >= frame_idx if track_in_reverse else t <= frame_idx)}
        else:
            ptr_cond = selected_cond
        sign = -1 if track_in_reverse else 1
        pos_and_ptrs = [((frame_idx - t) * sign if self.use_signed_tpos_enc_to_obj_ptrs else abs(frame_idx - t),
                         out["obj_ptr"]) for t, out in ptr_cond.items()]
        for t_diff in range(1, max_ptrs):
            t = frame_idx + t_diff if track_in_reverse else frame_idx - t_diff
            if t < 0 or (num_frames is not None and t >= num_frames):
                break
            out = output_dict["non_cond_frame_outputs"].get(t, unselected_cond.get(t, None))
            if out is not None:
                pos_and_ptrs.append((t_diff, out["obj_ptr"]))
        if not pos_and_ptrs:
            return None
        pos_list, ptrs_list = zip(*pos_and_ptrs)
        obj_ptrs = torch.stack(ptrs_list, dim=0)  # P x B x C
        if self.add_tpos_enc_to_obj_ptrs:
            # How far each pointer is from this frame, normalised by the pointer window.
            t_diff_max = max_ptrs - 1
            tpos_dim = c if self.proj_tpos_enc_in_obj_ptrs else self.mem_dim
            obj_pos = torch.tensor(pos_list).to(device=device, non_blocking=True)
            obj_pos = self.obj_ptr_tpos_proj(get_1d_sine_pe(obj_pos / t_diff_max, dim=tpos_dim))
            obj_pos = obj_pos.unsqueeze(1).expand(-1, batch, self.mem_dim)
        else:
            obj_pos = obj_ptrs.new_zeros(len(pos_list), batch, self.mem_dim)
        if self.mem_dim < c:
            # A C-wide pointer becomes C / mem_dim memory tokens.
            obj_ptrs = obj_ptrs.reshape(-1, batch, c // self.mem_dim, self.mem_dim)
            obj_ptrs = obj_ptrs.permute(0, 2, 1, 3).flatten(0, 1)
            obj_pos = obj_pos.repeat_interleave(c // self.mem_dim, dim=0)
        return obj_ptrs, obj_pos

    def _prepare_memory_conditioned_features(self, frame_idx, is_init_cond_frame, current_vision_feats,
                                             current_vision_pos_embeds, feat_sizes, output_dict, num_frames,
                                             track_in_reverse=False):
        """The current frame's top-level features fused with the memory bank: B x C x h x w."""
        b = current_vision_feats[-1].shape[1]
        c = self.hidden_dim
        h, w = feat_sizes[-1]
        device = current_vision_feats[-1].device
        if self.num_maskmem == 0:  # SAM on images: no memory at all
            return current_vision_feats[-1].permute(1, 2, 0).view(b, c, h, w)
        num_obj_ptr_tokens = 0
        if not is_init_cond_frame:
            if len(output_dict["cond_frame_outputs"]) == 0:
                raise ValueError("tracking a frame needs at least one conditioning (prompted) frame")
            selected_cond, unselected_cond = select_closest_cond_frames(
                frame_idx, output_dict["cond_frame_outputs"], self.max_cond_frames_in_attn)
            t_pos_and_prevs = [(0, out) for out in selected_cond.values()]
            t_pos_and_prevs += self._memory_frames(frame_idx, output_dict, unselected_cond, track_in_reverse)
            to_cat_memory, to_cat_memory_pos_embed = [], []
            for t_pos, prev in t_pos_and_prevs:
                if prev is None:
                    continue  # fewer past frames than memory slots
                feats = prev["maskmem_features"].to(device, non_blocking=True)  # may be offloaded
                to_cat_memory.append(feats.flatten(2).permute(2, 0, 1))
                maskmem_enc = prev["maskmem_pos_enc"][-1].to(device).flatten(2).permute(2, 0, 1)
                to_cat_memory_pos_embed.append(maskmem_enc + self.maskmem_tpos_enc[self.num_maskmem - t_pos - 1])
            if self.use_obj_ptrs_in_encoder:
                ptrs = self._object_pointer_memory(frame_idx, selected_cond, unselected_cond, output_dict,
                                                   num_frames, track_in_reverse, b, device)
                if ptrs is not None:
                    to_cat_memory.append(ptrs[0])
                    to_cat_memory_pos_embed.append(ptrs[1])
                    num_obj_ptr_tokens = ptrs[0].shape[0]
        else:
            if self.directly_add_no_mem_embed:
                pix_feat_with_mem = current_vision_feats[-1] + self.no_mem_embed
                return pix_feat_with_mem.permute(1, 2, 0).view(b, c, h, w)
            # A stand-in token, so that the memory attention never gets an empty memory.
            to_cat_memory = [self.no_mem_embed.expand(1, b, self.mem_dim)]
            to_cat_memory_pos_embed = [self.no_mem_pos_enc.expand(1, b, self.mem_dim)]
        memory = torch.cat(to_cat_memory, dim=0)
        memory_pos_embed = torch.cat(to_cat_memory_pos_embed, dim=0)
        with self._tracking_autocast(device):
            pix_feat_with_mem = self.memory_attention(curr=current_vision_feats, curr_pos=current_vision_pos_embeds,
                                                      memory=memory, memory_pos=memory_pos_embed,
                                                      num_obj_ptr_tokens=num_obj_ptr_tokens)
        pix_feat_with_mem = pix_feat_with_mem.float()  # a no-op on the fp32 path
        return pix_feat_with_mem.permute(1, 2, 0).view(b, c, h, w)

    def _encode_new_memory(self, current_vision_feats, feat_sizes, pred_masks_high_res, object_score_logits,
                           is_mask_from_pts):
        """Memory of this frame from its features and predicted high-res mask logits (B x 1 x H x W):
        (maskmem_features B x mem_dim x h x w, maskmem_pos_enc [B x mem_dim x h x w])."""
        b = current_vision_feats[-1].shape[1]
        c = self.hidden_dim
        h, w = feat_sizes[-1]
        pix_feat = current_vision_feats[-1].permute(1, 2, 0).view(b, c, h, w)
        if self.non_overlap_masks_for_mem_enc and not self.training:
            pred_masks_high_res = self._apply_non_overlapping_constraints(pred_masks_high_res)
        if self.binarize_mask_from_pts_for_mem_enc and is_mask_from_pts and not self.training:
            mask_for_mem = (pred_masks_high_res > 0).float()
        else:
            mask_for_mem = torch.sigmoid(pred_masks_high_res)
        if self.sigmoid_scale_for_mem_enc != 1.0:
            mask_for_mem = mask_for_mem * self.sigmoid_scale_for_mem_enc
        if self.sigmoid_bias_for_mem_enc != 0.0:
            mask_for_mem = mask_for_mem + self.sigmoid_bias_for_mem_enc
        maskmem_out = self.memory_encoder(pix_feat, mask_for_mem, skip_mask_sigmoid=True)
        maskmem_features = maskmem_out["vision_features"]
        maskmem_pos_enc = maskmem_out["vision_pos_enc"]
        if self.no_obj_embed_spatial is not None:
            # Mark frames where the object is predicted absent (occluded).
            is_obj_appearing = (object_score_logits > 0).float()
            maskmem_features = maskmem_features + (1 - is_obj_appearing[..., None, None]) * \
                self.no_obj_embed_spatial[..., None, None].expand(*maskmem_features.shape)
        return maskmem_features, maskmem_pos_enc

    def _track_step(self, frame_idx, is_init_cond_frame, current_vision_feats, current_vision_pos_embeds,
                    feat_sizes, point_inputs, mask_inputs, output_dict, num_frames, track_in_reverse,
                    prev_sam_mask_logits):
        current_out = {"point_inputs": point_inputs, "mask_inputs": mask_inputs}
        if len(current_vision_feats) > 1:
            high_res_features = [x.permute(1, 2, 0).view(x.shape[1], x.shape[2], *s)
                                 for x, s in zip(current_vision_feats[:-1], feat_sizes[:-1])]
        else:
            high_res_features = None
        if mask_inputs is not None and self.use_mask_input_as_output_without_sam:
            # The given mask is the output (as if ground truth); no decoder, no memory attention.
            pix_feat = current_vision_feats[-1].permute(1, 2, 0).view(-1, self.hidden_dim, *feat_sizes[-1])
            sam_outputs = self._use_mask_as_output(pix_feat, high_res_features, mask_inputs)
        else:
            pix_feat = self._prepare_memory_conditioned_features(
                frame_idx=frame_idx, is_init_cond_frame=is_init_cond_frame,
                current_vision_feats=current_vision_feats[-1:],
                current_vision_pos_embeds=current_vision_pos_embeds[-1:], feat_sizes=feat_sizes[-1:],
                output_dict=output_dict, num_frames=num_frames, track_in_reverse=track_in_reverse)
            if prev_sam_mask_logits is not None:
                # Earlier logits of this frame come back with new clicks (interactive refinement).
                if point_inputs is None or mask_inputs is not None:
                    raise ValueError("prev_sam_mask_logits needs point_inputs and no mask_inputs")
                mask_inputs = prev_sam_mask_logits
            sam_outputs = self._forward_sam_heads(
                backbone_features=pix_feat, point_inputs=point_inputs, mask_inputs=mask_inputs,
                high_res_features=high_res_features,
                multimask_output=self._use_multimask(is_init_cond_frame, point_inputs))
        return current_out, sam_outputs, high_res_features, pix_feat

    def _encode_memory_in_output(self, current_vision_feats, feat_sizes, point_inputs, run_mem_encoder,
                                 high_res_masks, object_score_logits, current_out):
        if run_mem_encoder and self.num_maskmem > 0:
            maskmem_features, maskmem_pos_enc = self._encode_new_memory(
                current_vision_feats=current_vision_feats, feat_sizes=feat_sizes,
                pred_masks_high_res=high_res_masks, object_score_logits=object_score_logits,
                is_mask_from_pts=point_inputs is not None)
            current_out["maskmem_features"] = maskmem_features
            current_out["maskmem_pos_enc"] = maskmem_pos_enc
        else:
            current_out["maskmem_features"] = None
            current_out["maskmem_pos_enc"] = None

    def track_step(self, frame_idx, is_init_cond_frame, current_vision_feats, current_vision_pos_embeds,
                   feat_sizes, point_inputs, mask_inputs, output_dict, num_frames, track_in_reverse=False,
                   run_mem_encoder=True, prev_sam_mask_logits=None):
        """One frame: masks, object pointer and (with run_mem_encoder) the frame's new memory.

        Returns {"point_inputs", "mask_inputs", "pred_masks" (B x 1 x 4h x 4w), "pred_masks_high_res"
        (B x 1 x image_size x image_size), "obj_ptr" (B x C), "object_score_logits" (eval only),
        "maskmem_features", "maskmem_pos_enc"}.
        """
        current_out, sam_outputs, _, _ = self._track_step(
            frame_idx, is_init_cond_frame, current_vision_feats, current_vision_pos_embeds, feat_sizes,
            point_inputs, mask_inputs, output_dict, num_frames, track_in_reverse, prev_sam_mask_logits)
        _, _, _, low_res_masks, high_res_masks, obj_ptr, object_score_logits = sam_outputs
        current_out["pred_masks"] = low_res_masks
        current_out["pred_masks_high_res"] = high_res_masks
        current_out["obj_ptr"] = obj_ptr
        if not self.training:
            current_out["object_score_logits"] = object_score_logits
        self._encode_memory_in_output(current_vision_feats, feat_sizes, point_inputs, run_mem_encoder,
                                      high_res_masks, object_score_logits, current_out)
        return current_out

    def _use_multimask(self, is_init_cond_frame, point_inputs) -> bool:
        """Multimask output on (initial or, if enabled, tracked) frames with few enough points."""
        num_pts = 0 if point_inputs is None else point_inputs["point_labels"].shape[1]
        return bool(self.multimask_output_in_sam
                    and (is_init_cond_frame or self.multimask_output_for_tracking)
                    and (self.multimask_min_pt_num <= num_pts <= self.multimask_max_pt_num))

    def _apply_non_overlapping_constraints(self, pred_masks: torch.Tensor) -> torch.Tensor:
        """Across the batch (objects of one frame), keep each pixel only for the highest-scoring object;
        others are clamped to at most -10. pred_masks: B x 1 x H x W logits."""
        batch_size = pred_masks.shape[0]
        if batch_size == 1:
            return pred_masks
        max_obj_inds = torch.argmax(pred_masks, dim=0, keepdim=True)
        batch_obj_inds = torch.arange(batch_size, device=pred_masks.device)[:, None, None, None]
        keep = max_obj_inds == batch_obj_inds
        return torch.where(keep, pred_masks, torch.clamp(pred_masks, max=-10.0))
