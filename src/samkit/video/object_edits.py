"""Undoing prompts and objects in the video predictor (mixed into SAM2VideoPredictor, the
reference's method names): clear a frame's prompts, remove an object, reset everything, and forget
tracked memories around a correction."""

from __future__ import annotations

import torch

from samkit.video.inference_state import (
    TrackingStateError, check_frame_idx, clear_objects, clear_tracking_results, drop_object_index, existing_obj_idx,
)


class ObjectEditsMixin:
    @torch.inference_mode()
    def clear_all_prompts_in_frame(self, inference_state, frame_idx, obj_id, need_output=True):
        """Remove object obj_id's points and mask on a frame; its output there becomes an ordinary
        tracked one. Returns (frame_idx, obj_ids, masks N x 1 x H x W at video resolution) when
        need_output. Unlike the reference, an unknown obj_id is an InputError (the reference adds
        an empty object, which then stops propagation)."""
        frame_idx = check_frame_idx(inference_state, frame_idx)
        obj_idx = existing_obj_idx(inference_state, obj_id)
        inference_state["point_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        inference_state["mask_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        temp_output_dict_per_obj = inference_state["temp_output_dict_per_obj"]
        temp_output_dict_per_obj[obj_idx]["cond_frame_outputs"].pop(frame_idx, None)
        temp_output_dict_per_obj[obj_idx]["non_cond_frame_outputs"].pop(frame_idx, None)
        obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
        out = obj_output_dict["cond_frame_outputs"].pop(frame_idx, None)
        if out is not None:
            # Without prompts the frame is no longer a conditioning frame.
            obj_output_dict["non_cond_frame_outputs"][frame_idx] = out
            inference_state["frames_tracked_per_obj"][obj_idx].pop(frame_idx, None)
        if not need_output:
            return None
        return frame_idx, inference_state["obj_ids"], self._frame_masks_after_edit(inference_state, frame_idx)

    def _frame_masks_after_edit(self, inference_state, frame_idx):
        is_cond = any(frame_idx in temp["cond_frame_outputs"]
                      for temp in inference_state["temp_output_dict_per_obj"].values())
        consolidated = self._consolidate_temp_output_across_obj(inference_state, frame_idx, is_cond=is_cond,
                                                                consolidate_at_video_res=True)
        _, video_res_masks = self._get_orig_video_res_output(inference_state, consolidated["pred_masks_video_res"])
        return video_res_masks

    @torch.inference_mode()
    def reset_state(self, inference_state):
        """Remove every prompt, result and object (the frames and cached features stay)."""
        self._reset_tracking_results(inference_state)
        clear_objects(inference_state)

    def _reset_tracking_results(self, inference_state):
        clear_tracking_results(inference_state)

    @torch.inference_mode()
    def remove_object(self, inference_state, obj_id, strict=False, need_output=True):
        """Remove an object and its prompts and results. Returns (obj_ids left, [(frame_idx,
        video_res_masks)] for the frames where it had prompts, when need_output). An unknown id is
        ignored, or raises TrackingStateError (a RuntimeError and InputError) with strict=True."""
        obj_idx_to_rm = inference_state["obj_id_to_idx"].get(obj_id)
        updated_frames = []
        if obj_idx_to_rm is None:
            if not strict:
                return inference_state["obj_ids"], updated_frames
            raise TrackingStateError(f"Cannot remove object id {obj_id} as it doesn't exist. "
                                     f"All existing object ids: {inference_state['obj_ids']}.")
        if len(inference_state["obj_id_to_idx"]) == 1:  # the last object: start afresh
            self.reset_state(inference_state)
            return inference_state["obj_ids"], updated_frames
        # Clearing its prompts first may turn its conditioning frames into tracked ones.
        input_frames = set(inference_state["point_inputs_per_obj"][obj_idx_to_rm])
        input_frames.update(inference_state["mask_inputs_per_obj"][obj_idx_to_rm])
        for frame_idx in input_frames:
            self.clear_all_prompts_in_frame(inference_state, frame_idx, obj_id, need_output=False)
        drop_object_index(inference_state, obj_idx_to_rm)
        if need_output:
            # Objects it covered may show more of themselves on those frames now.
            for frame_idx in input_frames:
                updated_frames.append((frame_idx, self._frame_masks_after_edit(inference_state, frame_idx)))
        return inference_state["obj_ids"], updated_frames

    def _clear_non_cond_mem_around_input(self, inference_state, frame_idx):
        """Forget every object's tracked memories within num_maskmem (strided) frames of frame_idx:
        after a correction they hold outdated views of the object."""
        for obj_idx in range(len(inference_state["obj_idx_to_id"])):
            self._clear_obj_non_cond_mem_around_input(inference_state, frame_idx, obj_idx)

    def _clear_obj_non_cond_mem_around_input(self, inference_state, frame_idx, obj_idx):
        """The same for one object. (sam2 1.1.0 calls this method without defining it, so the
        reference fails with clear_non_cond_mem_around_input=True.)"""
        r = self.memory_temporal_stride_for_eval
        non_cond = inference_state["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"]
        for t in range(frame_idx - r * self.num_maskmem, frame_idx + r * self.num_maskmem + 1):
            non_cond.pop(t, None)
