"""The video predictor's inference state: a plain dict with the reference's keys, so user code that
reaches into it (inference_state["num_frames"], ["obj_ids"], ["output_dict_per_obj"], ...) works.

Keys (as in sam2's SAM2VideoPredictor.init_state):
- images: the frame source (len(), [i] -> 3 x S x S normalised float32); frames are read when the
  predictor needs them, not loaded up front as in the reference.
- num_frames, video_height, video_width (original frame size in pixels), device, storage_device,
  offload_video_to_cpu, offload_state_to_cpu.
- point_inputs_per_obj[obj_idx][frame_idx] = {"point_coords": 1 x P x 2 (model-input pixels),
  "point_labels": 1 x P}; mask_inputs_per_obj[obj_idx][frame_idx] = 1 x 1 x S x S binary float.
- cached_features: {frame_idx: (image 1 x 3 x S x S, backbone_out)} for the few most recently used
  frames (an LRU of feature_cache_size entries; the reference keeps one).
- constants: {"maskmem_pos_enc": [...]} (the memory position encoding, the same for every frame).
- obj_id_to_idx / obj_idx_to_id / obj_ids: client object ids <-> model-side indices 0..N-1.
- output_dict_per_obj[obj_idx] = {"cond_frame_outputs": {frame_idx: out}, "non_cond_frame_outputs":
  {...}}: the memory bank; temp_output_dict_per_obj: outputs of prompts not yet propagated;
  frames_tracked_per_obj[obj_idx][frame_idx] = {"reverse": bool}.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from samkit.errors import InputError


class TrackingStateError(InputError, RuntimeError):
    """A call that the state does not allow yet (propagating before any prompt, removing an unknown
    object with strict=True). A RuntimeError too, as the reference raises RuntimeError there."""


def new_inference_state(frames, device: torch.device, offload_video_to_cpu: bool,
                        offload_state_to_cpu: bool) -> dict:
    """A fresh state for the frame source `frames`, with no objects."""
    return {
        "images": frames,
        "num_frames": len(frames),
        "offload_video_to_cpu": offload_video_to_cpu,
        "offload_state_to_cpu": offload_state_to_cpu,
        "video_height": frames.video_height,
        "video_width": frames.video_width,
        "device": device,
        "storage_device": torch.device("cpu") if offload_state_to_cpu else device,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }


def _empty_output_dict() -> dict:
    return {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}


def obj_idx_for(inference_state: dict, obj_id) -> int:
    """The model-side index of `obj_id`, adding the object when it is new (objects can be added at
    any time, also after propagation)."""
    obj_idx = inference_state["obj_id_to_idx"].get(obj_id)
    if obj_idx is not None:
        return obj_idx
    try:
        hash(obj_id)
    except TypeError:
        raise InputError(f"obj_id must be hashable (an int or a string), got {type(obj_id).__name__}") from None
    obj_idx = len(inference_state["obj_id_to_idx"])
    inference_state["obj_id_to_idx"][obj_id] = obj_idx
    inference_state["obj_idx_to_id"][obj_idx] = obj_id
    inference_state["obj_ids"] = list(inference_state["obj_id_to_idx"])
    inference_state["point_inputs_per_obj"][obj_idx] = {}
    inference_state["mask_inputs_per_obj"][obj_idx] = {}
    inference_state["output_dict_per_obj"][obj_idx] = _empty_output_dict()
    inference_state["temp_output_dict_per_obj"][obj_idx] = _empty_output_dict()
    inference_state["frames_tracked_per_obj"][obj_idx] = {}
    return obj_idx


def existing_obj_idx(inference_state: dict, obj_id) -> int:
    """The index of a known object; InputError (listing the known ids) for an unknown one."""
    obj_idx = inference_state["obj_id_to_idx"].get(obj_id)
    if obj_idx is None:
        raise InputError(f"unknown object id {obj_id!r}; the objects are {inference_state['obj_ids']}")
    return obj_idx


def check_frame_idx(inference_state: dict, frame_idx) -> int:
    """frame_idx as an int in 0..num_frames-1, else InputError."""
    n = inference_state["num_frames"]
    try:
        i = int(frame_idx)
        ok = i == frame_idx
    except (TypeError, ValueError):
        ok = False
    if not ok or not 0 <= i < n:
        raise InputError(f"frame_idx {frame_idx!r} is outside the video: it has {n} frames (0..{n - 1})")
    return i


def clear_tracking_results(inference_state: dict) -> None:
    """Drop every prompt and result, keep the objects (the reference's _reset_tracking_results)."""
    for key in ("point_inputs_per_obj", "mask_inputs_per_obj", "frames_tracked_per_obj"):
        for per_frame in inference_state[key].values():
            per_frame.clear()
    for key in ("output_dict_per_obj", "temp_output_dict_per_obj"):
        for out in inference_state[key].values():
            out["cond_frame_outputs"].clear()
            out["non_cond_frame_outputs"].clear()


def clear_objects(inference_state: dict) -> None:
    """Drop every object with its prompts and results (the end of reset_state)."""
    for key in ("obj_id_to_idx", "obj_idx_to_id", "obj_ids", "point_inputs_per_obj", "mask_inputs_per_obj",
                "output_dict_per_obj", "temp_output_dict_per_obj", "frames_tracked_per_obj"):
        inference_state[key].clear()


def drop_object_index(inference_state: dict, obj_idx_to_drop: int) -> None:
    """Remove object index `obj_idx_to_drop` and renumber the others to 0..N-2 (order kept)."""
    old_ids = inference_state["obj_ids"]
    keep = [i for i in range(len(old_ids)) if i != obj_idx_to_drop]
    old_to_new = {old: new for new, old in enumerate(keep)}
    new_ids = [old_ids[i] for i in keep]
    inference_state["obj_id_to_idx"] = OrderedDict((obj_id, i) for i, obj_id in enumerate(new_ids))
    inference_state["obj_idx_to_id"] = OrderedDict((i, obj_id) for i, obj_id in enumerate(new_ids))
    inference_state["obj_ids"] = new_ids
    for key in ("point_inputs_per_obj", "mask_inputs_per_obj", "output_dict_per_obj", "temp_output_dict_per_obj",
                "frames_tracked_per_obj"):
        container = inference_state[key]
        moved = [(old_to_new[k], container.pop(k)) for k in range(len(old_ids)) if k in old_to_new]
        container.pop(obj_idx_to_drop, None)
        container.update(moved)
