"""SAM2VideoPredictor: the drop-in for sam2.sam2_video_predictor.SAM2VideoPredictor.

    predictor = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt")
    state = predictor.init_state("video.mp4")          # or a folder of JPEG/PNG frames
    predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[210, 350]], labels=[1])
    for frame_idx, obj_ids, video_res_masks in predictor.propagate_in_video(state):
        masks = video_res_masks > 0                      # N objects x 1 x H x W, video pixels

The state machine (which frame is a conditioning frame, the temporary outputs of prompts, the
memory bank per object) follows the reference step by step, so the masks are the reference's.
The model is SAM2Base (its tracking methods: track_step, _encode_new_memory); per-frame work is in
frame_inference.py, object edits in object_edits.py. Differences: frames are read as tracking
reaches them (never the whole video in memory), image features of the last `feature_cache_size`
frames are kept (the reference keeps one), video files are decoded with PyAV, and bad input (an
unknown object id, a frame outside the video) raises samkit.errors.InputError (a ValueError).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from samkit.modeling.sam2.sam2_base import SAM2Base
from samkit.video.frame_inference import FrameInferenceMixin
from samkit.video.open_frames import open_frame_source
from samkit.video.inference_state import TrackingStateError, check_frame_idx, new_inference_state, obj_idx_for
from samkit.video.object_edits import ObjectEditsMixin
from samkit.video.video_prompts import concat_points, prepare_mask_prompt, prepare_point_prompt


class SAM2VideoPredictor(ObjectEditsMixin, FrameInferenceMixin, SAM2Base):
    """SAM2Base plus the video state machine; the reference's constructor arguments.

    fill_hole_area: fill background holes of at most this many low-res pixels in the masks (0: off).
    non_overlap_masks: each pixel of the output goes to the highest-scoring object only.
    clear_non_cond_mem_around_input: after a correction, forget the tracked memories around it.
    add_all_frames_to_correct_as_cond: corrected frames become conditioning frames.
    feature_cache_size (samkit): how many frames' image features to keep (LRU; the reference keeps 1).
    release_old_frames (samkit): while propagating, drop the stored outputs (memories, masks) of
        tracked frames that fell behind the memory window, so that memory stays bounded on long
        videos; the masks are the same. Later prompts on such frames get no earlier mask to refine
        (the reference keeps every frame's outputs: ~0.8 MB per frame and object at 1024 px).
    """

    show_progress = True  # a tqdm bar in propagate_in_video, as the reference shows (samkit track has its own)

    def __init__(self, fill_hole_area: int = 0, non_overlap_masks: bool = False,
                 clear_non_cond_mem_around_input: bool = False, add_all_frames_to_correct_as_cond: bool = False,
                 feature_cache_size: int = 2, release_old_frames: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fill_hole_area = fill_hole_area
        self.non_overlap_masks = non_overlap_masks
        self.clear_non_cond_mem_around_input = clear_non_cond_mem_around_input
        self.add_all_frames_to_correct_as_cond = add_all_frames_to_correct_as_cond
        self.feature_cache_size = feature_cache_size
        self.release_old_frames = release_old_frames

    @torch.inference_mode()
    def init_state(self, video_path, offload_video_to_cpu: bool = False, offload_state_to_cpu: bool = False,
                   async_loading_frames: bool = False) -> dict:
        """A new inference state for a video: a folder of JPEG/PNG frames, a video file (MP4, MOV,
        AVI, WebM, MKV) or its bytes. Frames are read as tracking reaches them, so
        offload_video_to_cpu and async_loading_frames change nothing (frames stay on the CPU until
        encoded). offload_state_to_cpu keeps memories and masks in CPU memory."""
        frames = open_frame_source(video_path, self.image_size)
        inference_state = new_inference_state(frames, self.device, offload_video_to_cpu, offload_state_to_cpu)
        # Encode frame 0 now: it is where users click first.
        self._get_image_feature(inference_state, frame_idx=0, batch_size=1)
        return inference_state

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs) -> "SAM2VideoPredictor":
        """A predictor with the released weights of a Hugging Face id ("facebook/sam2.1-hiera-tiny")."""
        from samkit.video.build_video import build_sam2_video_predictor_hf

        return build_sam2_video_predictor_hf(model_id, **kwargs)

    def _obj_id_to_idx(self, inference_state, obj_id):
        return obj_idx_for(inference_state, obj_id)

    def _obj_idx_to_id(self, inference_state, obj_idx):
        return inference_state["obj_idx_to_id"][obj_idx]

    def _get_obj_num(self, inference_state):
        return len(inference_state["obj_idx_to_id"])

    @torch.inference_mode()
    def add_new_points_or_box(self, inference_state, frame_idx, obj_id, points=None, labels=None,
                              clear_old_points=True, normalize_coords=True, box=None):
        """Clicks (P x 2 xy, labels P) and/or a box (x0, y0, x1, y1) for object obj_id on a frame,
        in video pixels (normalize_coords=True) or in [0, 1]. Returns (frame_idx, obj_ids, masks
        N x 1 x H x W logits at video resolution for all objects on that frame)."""
        frame_idx = check_frame_idx(inference_state, frame_idx)
        points, labels = prepare_point_prompt(
            points, labels, box, clear_old_points, normalize_coords,
            (inference_state["video_height"], inference_state["video_width"]), self.image_size,
            inference_state["device"])
        obj_idx = self._obj_id_to_idx(inference_state, obj_id)
        point_inputs_per_frame = inference_state["point_inputs_per_obj"][obj_idx]
        old = None if clear_old_points else point_inputs_per_frame.get(frame_idx)
        point_inputs = concat_points(old, points, labels)
        point_inputs_per_frame[frame_idx] = point_inputs
        inference_state["mask_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        return self._add_prompt_output(inference_state, frame_idx, obj_idx, point_inputs=point_inputs)

    def add_new_points(self, *args, **kwargs):
        """Deprecated in the reference: add_new_points_or_box."""
        return self.add_new_points_or_box(*args, **kwargs)

    @torch.inference_mode()
    def add_new_mask(self, inference_state, frame_idx, obj_id, mask):
        """A H x W binary mask for object obj_id on a frame (any size; resized to the model's).
        Returns (frame_idx, obj_ids, masks N x 1 x H x W at video resolution)."""
        frame_idx = check_frame_idx(inference_state, frame_idx)
        mask_inputs = prepare_mask_prompt(mask, self.image_size, inference_state["device"])
        obj_idx = self._obj_id_to_idx(inference_state, obj_id)
        inference_state["mask_inputs_per_obj"][obj_idx][frame_idx] = mask_inputs
        inference_state["point_inputs_per_obj"][obj_idx].pop(frame_idx, None)
        return self._add_prompt_output(inference_state, frame_idx, obj_idx, mask_inputs=mask_inputs)

    def _add_prompt_output(self, inference_state, frame_idx, obj_idx, point_inputs=None, mask_inputs=None):
        """Run the frame with the object's new prompt (points or mask) and keep the result as a
        temporary output; its memory is encoded when propagation starts (after every prompt, so
        that non-overlap constraints can see all objects)."""
        frames_tracked = inference_state["frames_tracked_per_obj"][obj_idx]
        # An untracked frame is an initial conditioning frame (SAM on a single image, no memory);
        # on a tracked frame the prompt corrects the tracked mask, in that frame's direction.
        is_init_cond_frame = frame_idx not in frames_tracked
        reverse = False if is_init_cond_frame else frames_tracked[frame_idx]["reverse"]
        obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
        obj_temp_output_dict = inference_state["temp_output_dict_per_obj"][obj_idx]
        is_cond = is_init_cond_frame or self.add_all_frames_to_correct_as_cond
        storage_key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
        prev_sam_mask_logits = None
        if point_inputs is not None:
            # New clicks refine the newest mask of this object on this frame.
            prev_out = obj_temp_output_dict[storage_key].get(frame_idx)
            if prev_out is None:
                prev_out = obj_output_dict["cond_frame_outputs"].get(frame_idx)
            if prev_out is None:
                prev_out = obj_output_dict["non_cond_frame_outputs"].get(frame_idx)
            if prev_out is not None and prev_out["pred_masks"] is not None:
                prev = prev_out["pred_masks"].to(inference_state["device"], non_blocking=True)
                prev_sam_mask_logits = torch.clamp(prev, -32.0, 32.0)  # avoids rare numerical trouble
        current_out, _ = self._run_single_frame_inference(
            inference_state=inference_state, output_dict=obj_output_dict, frame_idx=frame_idx, batch_size=1,
            is_init_cond_frame=is_init_cond_frame, point_inputs=point_inputs, mask_inputs=mask_inputs,
            reverse=reverse, run_mem_encoder=False, prev_sam_mask_logits=prev_sam_mask_logits)
        obj_temp_output_dict[storage_key][frame_idx] = current_out
        consolidated = self._consolidate_temp_output_across_obj(inference_state, frame_idx, is_cond=is_cond,
                                                                consolidate_at_video_res=True)
        _, video_res_masks = self._get_orig_video_res_output(inference_state, consolidated["pred_masks_video_res"])
        return frame_idx, inference_state["obj_ids"], video_res_masks

    @torch.inference_mode()
    def propagate_in_video_preflight(self, inference_state):
        """Move the temporary outputs of prompts into the memory bank, encoding their memories."""
        batch_size = self._get_obj_num(inference_state)
        if batch_size == 0:
            raise TrackingStateError("No input points or masks are provided for any object; please add inputs first.")
        for obj_idx in range(batch_size):
            obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
            obj_temp_output_dict = inference_state["temp_output_dict_per_obj"][obj_idx]
            for storage_key in ("non_cond_frame_outputs", "cond_frame_outputs"):
                for frame_idx, out in obj_temp_output_dict[storage_key].items():
                    if out["maskmem_features"] is None:
                        high_res_masks = F.interpolate(out["pred_masks"].to(inference_state["device"]),
                                                       size=(self.image_size, self.image_size),
                                                       mode="bilinear", align_corners=False)
                        out["maskmem_features"], out["maskmem_pos_enc"] = self._run_memory_encoder(
                            inference_state=inference_state, frame_idx=frame_idx, batch_size=1,
                            high_res_masks=high_res_masks, object_score_logits=out["object_score_logits"],
                            is_mask_from_pts=True)  # what the user made
                    obj_output_dict[storage_key][frame_idx] = out
                    if self.clear_non_cond_mem_around_input:
                        self._clear_obj_non_cond_mem_around_input(inference_state, frame_idx, obj_idx)
                obj_temp_output_dict[storage_key].clear()
            if len(obj_output_dict["cond_frame_outputs"]) == 0:
                obj_id = self._obj_idx_to_id(inference_state, obj_idx)
                raise TrackingStateError(f"No input points or masks are provided for object id {obj_id}; "
                                 f"please add inputs first.")
            # A frame that became a conditioning frame is no longer a tracked one.
            for frame_idx in obj_output_dict["cond_frame_outputs"]:
                obj_output_dict["non_cond_frame_outputs"].pop(frame_idx, None)

    def _processing_order(self, inference_state, start_frame_idx, max_frame_num_to_track, reverse) -> range:
        num_frames = inference_state["num_frames"]
        if start_frame_idx is None:  # from the earliest prompted frame
            start_frame_idx = min(t for out in inference_state["output_dict_per_obj"].values()
                                  for t in out["cond_frame_outputs"])
        start_frame_idx = check_frame_idx(inference_state, start_frame_idx)
        if max_frame_num_to_track is None:
            max_frame_num_to_track = num_frames
        if reverse:
            end_frame_idx = max(start_frame_idx - max_frame_num_to_track, 0)
            return range(start_frame_idx, end_frame_idx - 1, -1) if start_frame_idx > 0 else range(0)
        end_frame_idx = min(start_frame_idx + max_frame_num_to_track, num_frames - 1)
        return range(start_frame_idx, end_frame_idx + 1)

    @torch.inference_mode()
    def propagate_in_video(self, inference_state, start_frame_idx=None, max_frame_num_to_track=None,
                           reverse=False):
        """Track every object frame by frame; yields (frame_idx, obj_ids, video_res_masks N x 1 x H x W
        logits). Starts at the earliest prompted frame unless start_frame_idx is given; tracks
        max_frame_num_to_track frames after it (all by default), backwards with reverse=True."""
        self.propagate_in_video_preflight(inference_state)
        obj_ids = inference_state["obj_ids"]
        batch_size = self._get_obj_num(inference_state)
        order = self._processing_order(inference_state, start_frame_idx, max_frame_num_to_track, reverse)
        for frame_idx in _progress(order) if self.show_progress else order:
            pred_masks_per_obj = []
            for obj_idx in range(batch_size):
                obj_output_dict = inference_state["output_dict_per_obj"][obj_idx]
                if frame_idx in obj_output_dict["cond_frame_outputs"]:
                    # A prompted frame: its (consolidated) output is used as it is.
                    current_out = obj_output_dict["cond_frame_outputs"][frame_idx]
                    pred_masks = current_out["pred_masks"].to(inference_state["device"], non_blocking=True)
                    if self.clear_non_cond_mem_around_input:
                        self._clear_obj_non_cond_mem_around_input(inference_state, frame_idx, obj_idx)
                else:
                    current_out, pred_masks = self._run_single_frame_inference(
                        inference_state=inference_state, output_dict=obj_output_dict, frame_idx=frame_idx,
                        batch_size=1, is_init_cond_frame=False, point_inputs=None, mask_inputs=None,
                        reverse=reverse, run_mem_encoder=True)
                    obj_output_dict["non_cond_frame_outputs"][frame_idx] = current_out
                inference_state["frames_tracked_per_obj"][obj_idx][frame_idx] = {"reverse": reverse}
                pred_masks_per_obj.append(pred_masks)
            if self.release_old_frames:
                self._release_frames_behind(inference_state, frame_idx, reverse)
            all_pred_masks = torch.cat(pred_masks_per_obj, dim=0) if batch_size > 1 else pred_masks_per_obj[0]
            _, video_res_masks = self._get_orig_video_res_output(inference_state, all_pred_masks)
            yield frame_idx, obj_ids, video_res_masks

    def memory_window(self) -> int:
        """How many frames back a tracking step reads: its strided memory frames and its object pointers."""
        return max(self.memory_temporal_stride_for_eval * self.num_maskmem + 1, self.max_obj_ptrs_in_encoder)

    def _release_frames_behind(self, inference_state, frame_idx: int, reverse: bool) -> None:
        """Drop the tracked (non-conditioning) output of the frame that just left the memory window."""
        old = frame_idx + self.memory_window() if reverse else frame_idx - self.memory_window()
        for obj_output_dict in inference_state["output_dict_per_obj"].values():
            obj_output_dict["non_cond_frame_outputs"].pop(old, None)


def _progress(order):
    """tqdm over the frames when tqdm is present (it is a samkit dependency), as the reference shows."""
    try:
        from tqdm import tqdm
    except ImportError:
        return order
    return tqdm(order, desc="propagate in video")
