"""Per-frame work of the video predictor, mixed into SAM2VideoPredictor (the reference's method
names, which subclasses and user code call): image features with a small LRU cache, one tracking
step on one frame, the memory encoder on consolidated masks, and the outputs at video resolution.

Frames: masks are logits; "pred_masks" are B x 1 x S/4 x S/4 (S = image_size), video-resolution
masks B x 1 x video_height x video_width. B is the number of objects on a frame (the predictor runs
one object at a time, B = 1, as the reference does).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.nn import functional as F

from samkit.modeling.sam2.sam2_base import NO_OBJ_SCORE
from samkit.video.hole_filling import fill_holes_in_mask_scores


class _OutputsAs(Mapping):
    """{frame_idx: out} whose outs are read with "maskmem_features" cast to `dtype`."""

    def __init__(self, frames: dict, dtype: torch.dtype) -> None:
        self._frames, self._dtype = frames, dtype

    def __getitem__(self, frame_idx):
        out = self._frames[frame_idx]
        feats = out.get("maskmem_features")
        if feats is None or feats.dtype == self._dtype:
            return out
        return {**out, "maskmem_features": feats.to(self._dtype)}

    def __iter__(self):
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)


class MemoryBankView(Mapping):
    """An object's memory bank as the tracking step reads it, memories in the compute dtype.

    Memories are stored in bf16 (as the reference stores them). The reference concatenates them
    with fp32 object pointers, which promotes them to fp32, but when a frame's memory holds no
    pointer (an object prompted on a later frame, tracked forwards from an earlier one) it hands
    bf16 to fp32 layers and fails outside autocast. Casting on read gives the reference's numbers
    where it works, and works there too."""

    def __init__(self, output_dict: dict, dtype: torch.dtype) -> None:
        self._output_dict, self._dtype = output_dict, dtype

    def __getitem__(self, key):
        return _OutputsAs(self._output_dict[key], self._dtype)

    def __iter__(self):
        return iter(self._output_dict)

    def __len__(self) -> int:
        return len(self._output_dict)


class FrameInferenceMixin:
    """Needs the SAM2Base tracking methods (forward_image, track_step, _encode_new_memory, ...)
    and the attributes fill_hole_area, non_overlap_masks and feature_cache_size."""

    def _get_image_feature(self, inference_state: dict, frame_idx: int, batch_size: int):
        """(image B x 3 x S x S, backbone_out, vision_feats, vision_pos_embeds, feat_sizes) for a
        frame, its features expanded (not copied) to batch_size objects. The image encoder runs only
        for frames not in the LRU cache of the last feature_cache_size frames used: features of
        frames that left it are freed, so memory does not grow with the video."""
        cache = inference_state["cached_features"]
        entry = cache.pop(frame_idx, None)
        if entry is None:
            device = inference_state["device"]
            image = inference_state["images"][frame_idx].to(device).float().unsqueeze(0)
            entry = (image, self.forward_image(image))
        cache[frame_idx] = entry  # most recently used last
        while len(cache) > max(1, int(self.feature_cache_size)):
            del cache[next(iter(cache))]
        image, backbone_out = entry
        expanded = {
            "backbone_fpn": [f.expand(batch_size, -1, -1, -1) for f in backbone_out["backbone_fpn"]],
            "vision_pos_enc": [p.expand(batch_size, -1, -1, -1) for p in backbone_out["vision_pos_enc"]],
        }
        return (image.expand(batch_size, -1, -1, -1),) + self._prepare_backbone_features(expanded)

    def _run_single_frame_inference(self, inference_state, output_dict, frame_idx, batch_size, is_init_cond_frame,
                                    point_inputs, mask_inputs, reverse, run_mem_encoder, prev_sam_mask_logits=None):
        """One tracking step on a frame against the memory bank `output_dict`. Returns (compact
        output to store, pred_masks B x 1 x S/4 x S/4 on the compute device)."""
        _, _, vision_feats, vision_pos_embeds, feat_sizes = self._get_image_feature(
            inference_state, frame_idx, batch_size)
        if point_inputs is not None and mask_inputs is not None:
            raise ValueError("a frame gets points or a mask, not both")
        current_out = self.track_step(
            frame_idx=frame_idx, is_init_cond_frame=is_init_cond_frame, current_vision_feats=vision_feats,
            current_vision_pos_embeds=vision_pos_embeds, feat_sizes=feat_sizes, point_inputs=point_inputs,
            mask_inputs=mask_inputs, output_dict=MemoryBankView(output_dict, vision_feats[-1].dtype), num_frames=inference_state["num_frames"],
            track_in_reverse=reverse, run_mem_encoder=run_mem_encoder, prev_sam_mask_logits=prev_sam_mask_logits)
        storage_device = inference_state["storage_device"]
        maskmem_features = current_out["maskmem_features"]
        if maskmem_features is not None:
            # Memories are stored in bf16 (half the memory), as the reference stores them.
            maskmem_features = maskmem_features.to(torch.bfloat16).to(storage_device, non_blocking=True)
        pred_masks_compute = current_out["pred_masks"]
        if self.fill_hole_area > 0:
            pred_masks_compute = fill_holes_in_mask_scores(pred_masks_compute, self.fill_hole_area)
        compact_out = {
            "maskmem_features": maskmem_features,
            "maskmem_pos_enc": self._get_maskmem_pos_enc(inference_state, current_out),
            "pred_masks": pred_masks_compute.to(storage_device, non_blocking=True),
            "obj_ptr": current_out["obj_ptr"],  # small: stays on the compute device
            "object_score_logits": current_out["object_score_logits"],
        }
        return compact_out, pred_masks_compute

    def _run_memory_encoder(self, inference_state, frame_idx, batch_size, high_res_masks, object_score_logits,
                            is_mask_from_pts):
        """Memory of a frame from (consolidated) high-res mask logits B x 1 x S x S:
        (maskmem_features in bf16 on the storage device, maskmem_pos_enc)."""
        _, _, vision_feats, _, feat_sizes = self._get_image_feature(inference_state, frame_idx, batch_size)
        maskmem_features, maskmem_pos_enc = self._encode_new_memory(
            current_vision_feats=vision_feats, feat_sizes=feat_sizes, pred_masks_high_res=high_res_masks,
            object_score_logits=object_score_logits, is_mask_from_pts=is_mask_from_pts)
        storage_device = inference_state["storage_device"]
        maskmem_features = maskmem_features.to(torch.bfloat16).to(storage_device, non_blocking=True)
        maskmem_pos_enc = self._get_maskmem_pos_enc(inference_state, {"maskmem_pos_enc": maskmem_pos_enc})
        return maskmem_features, maskmem_pos_enc

    def _get_maskmem_pos_enc(self, inference_state, current_out):
        """The memory position encoding is the same on every frame and object: keep one copy in
        inference_state["constants"] and hand out views expanded to the batch."""
        out_pos_enc = current_out["maskmem_pos_enc"]
        if out_pos_enc is None:
            return None
        constants = inference_state["constants"]
        if "maskmem_pos_enc" not in constants:
            constants["maskmem_pos_enc"] = [x[0:1].clone() for x in out_pos_enc]
        batch_size = out_pos_enc[0].shape[0]
        return [x.expand(batch_size, -1, -1, -1) for x in constants["maskmem_pos_enc"]]

    def _consolidate_temp_output_across_obj(self, inference_state, frame_idx, is_cond, consolidate_at_video_res=False):
        """All objects' masks on a frame in one N x 1 x H x W tensor: each object's newest output
        (temporary, then conditioning, then tracked); NO_OBJ_SCORE for objects without one.
        Returns {"pred_masks_video_res" or "pred_masks": ...} (video or S/4 resolution)."""
        batch_size = len(inference_state["obj_idx_to_id"])
        storage_key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
        if consolidate_at_video_res:
            out_hw = (inference_state["video_height"], inference_state["video_width"])
            mask_key = "pred_masks_video_res"
        else:
            out_hw = (self.image_size // 4, self.image_size // 4)
            mask_key = "pred_masks"
        consolidated = torch.full((batch_size, 1, *out_hw), NO_OBJ_SCORE, dtype=torch.float32,
                                  device=inference_state["storage_device"])
        for obj_idx in range(batch_size):
            out = inference_state["temp_output_dict_per_obj"][obj_idx][storage_key].get(frame_idx)
            obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
            if out is None:
                out = obj_output_dict["cond_frame_outputs"].get(frame_idx)
            if out is None:
                out = obj_output_dict["non_cond_frame_outputs"].get(frame_idx)
            if out is None:
                continue
            obj_mask = out["pred_masks"]
            if tuple(obj_mask.shape[-2:]) != out_hw:
                obj_mask = F.interpolate(obj_mask, size=out_hw, mode="bilinear", align_corners=False)
            consolidated[obj_idx : obj_idx + 1] = obj_mask
        return {mask_key: consolidated}

    def _get_orig_video_res_output(self, inference_state, any_res_masks):
        """(masks on the compute device, the same at video resolution with the optional
        non-overlap constraint): N x 1 x H x W logits."""
        any_res_masks = any_res_masks.to(inference_state["device"], non_blocking=True)
        video_hw = (inference_state["video_height"], inference_state["video_width"])
        if tuple(any_res_masks.shape[-2:]) == video_hw:
            video_res_masks = any_res_masks
        else:
            video_res_masks = F.interpolate(any_res_masks, size=video_hw, mode="bilinear", align_corners=False)
        if self.non_overlap_masks:
            video_res_masks = self._apply_non_overlapping_constraints(video_res_masks)
        return any_res_masks, video_res_masks
