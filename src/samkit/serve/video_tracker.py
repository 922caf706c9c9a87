"""The SAM 2 tracking of one video in the annotator: the video predictor's inference state for it,
prompts in, DAVIS label maps out.

The inference state is made when it is first needed (the first prompt or propagation) and can be
dropped to free memory (the service keeps a few); a new one is rebuilt by replaying the stored
prompts in the order they were last changed, so a restarted server tracks on from where it was.
Replaying re-runs the prompted frames only: until the next propagation the tracked frames' memories
are missing, which changes corrections a little against an uninterrupted session (the stored masks
stay as they were).

Every predictor call holds `model_lock`: one predictor (sharing the served model's modules) serves
every video, and its state machine is not made for two threads.
"""

from __future__ import annotations

import threading

import numpy as np

from samkit.errors import InputError
from samkit.serve.video_store import StoredPrompt, VideoStore
from samkit.video.mask_writer import label_map


def has_output(state: dict, obj_idx: int, frame_idx: int) -> bool:
    """Whether the inference state holds a mask of object `obj_idx` on this frame (a prompt's, not
    propagated yet, or a propagated one)."""
    for outputs in (state["output_dict_per_obj"][obj_idx], state["temp_output_dict_per_obj"][obj_idx]):
        if frame_idx in outputs["cond_frame_outputs"] or frame_idx in outputs["non_cond_frame_outputs"]:
            return True
    return False


def merge_frame_labels(state: dict, frame_idx: int, obj_ids: list[int], video_res_masks,
                       stored: np.ndarray | None, stored_objects: list[int], hw: tuple[int, int],
                       edited: tuple[int, ...] = ()) -> np.ndarray:
    """The label map of a frame after an edit: the predictor's masks for the objects it has a mask
    of there and for the `edited` ones; the stored pixels of the other objects (tracked before a
    restart, say) where no predicted object claims them. video_res_masks: N x 1 x H x W logits in
    obj_ids order."""
    labels = label_map(video_res_masks, list(obj_ids)) if len(obj_ids) else np.zeros(hw, np.uint8)
    if stored is not None:
        known = {obj_id for k, obj_id in enumerate(obj_ids) if has_output(state, k, frame_idx)} | set(edited)
        others = [i for i in stored_objects if i not in known]
        keep = np.isin(stored, others) & (labels == 0)
        labels[keep] = stored[keep]
    return labels


class VideoTracker:
    """One video's inference state on the shared predictor. Callers hold the store's lock."""

    def __init__(self, predictor, model_lock: threading.Lock, video_path: str, store: VideoStore) -> None:
        self.predictor = predictor
        self.model_lock = model_lock
        self.video_path = video_path
        self.store = store
        self.state: dict | None = None

    @property
    def loaded(self) -> bool:
        return self.state is not None

    def ensure_state(self) -> dict:
        """The inference state, made (and the stored prompts replayed) if there is none. Hold model_lock."""
        if self.state is None:
            state = self.predictor.init_state(self.video_path)
            for p in self.store.prompts:
                self._add(state, p)
            self.state = state
        return self.state

    def drop_state(self) -> None:
        """Free the inference state (its memories and cached features); a later call rebuilds it."""
        with self.model_lock:
            state, self.state = self.state, None
        if state is not None:
            state["images"].close()

    def _add(self, state: dict, p: StoredPrompt):
        points = np.asarray(p.points, np.float32).reshape(-1, 2) if p.points else None
        labels = np.asarray(p.labels, np.int32) if p.points else None
        box = np.asarray(p.box, np.float32) if p.box is not None else None
        return self.predictor.add_new_points_or_box(state, p.frame_idx, p.obj_id, points=points, labels=labels,
                                                    clear_old_points=True, box=box)

    def add_prompt(self, prompt: StoredPrompt) -> np.ndarray:
        """Give the object this prompt on its frame (replacing its earlier one there); returns the
        frame's H x W label map. InputError for a prompt the predictor refuses."""
        with self.model_lock:
            state = self.ensure_state()
            _, obj_ids, masks = self._add(state, prompt)
            return merge_frame_labels(state, prompt.frame_idx, obj_ids, masks, self.store.labels(prompt.frame_idx),
                                      self.store.objects, (self.store.height, self.store.width))

    def clear_prompts(self, frame_idx: int, obj_ids: list[int]) -> np.ndarray | None:
        """Remove these objects' prompts on a frame (call before the store forgets them: a state made
        here replays them first); their masks there become tracked ones. Returns the frame's label
        map, or None when the state has none of these objects (nothing changes)."""
        with self.model_lock:
            state = self.ensure_state()
            present = [i for i in obj_ids if i in state["obj_id_to_idx"]]
            if not present:
                return None
            for obj_id in present[:-1]:
                self.predictor.clear_all_prompts_in_frame(state, frame_idx, obj_id, need_output=False)
            _, ids, masks = self.predictor.clear_all_prompts_in_frame(state, frame_idx, present[-1])
            # A cleared object without a propagated mask here has none now: its stored pixels go too.
            return merge_frame_labels(state, frame_idx, ids, masks, self.store.labels(frame_idx),
                                      self.store.objects, (self.store.height, self.store.width), tuple(present))

    def remove_object(self, obj_id: int) -> None:
        with self.model_lock:
            if self.state is not None and obj_id in self.state["obj_id_to_idx"]:
                self.predictor.remove_object(self.state, obj_id, strict=False, need_output=False)


def check_prompt(prompt: StoredPrompt, width: int, height: int) -> None:
    """InputError unless the prompt has clicks or a box inside the frame (video pixels)."""
    if not prompt.points and prompt.box is None:
        raise InputError("the prompt is empty: give points or a box (to remove an object's prompts on a frame, "
                         "DELETE them)")
    if len(prompt.labels) != len(prompt.points):
        raise InputError(f"{len(prompt.points)} points but {len(prompt.labels)} labels: give one label per point")
    if any(lab not in (0, 1) for lab in prompt.labels):
        raise InputError(f"labels must be 1 (foreground) or 0 (background), got {prompt.labels}")
    for pt in prompt.points:
        if len(pt) != 2 or not all(np.isfinite(pt)):
            raise InputError(f"a point is [x, y] (two finite numbers), got {pt}")
        if not (0 <= pt[0] <= width and 0 <= pt[1] <= height):
            raise InputError(f"point {pt} is outside the frame ({width} x {height} pixels, W x H)")
    if prompt.box is not None:
        box = prompt.box
        if len(box) != 4 or not all(np.isfinite(box)):
            raise InputError(f"a box is [x0, y0, x1, y1] (four finite numbers), got {box}")
        if not (box[0] < box[2] and box[1] < box[3]):
            raise InputError(f"box {box} is empty: it needs x0 < x1 and y0 < y1")
        if box[2] < 0 or box[3] < 0 or box[0] > width or box[1] > height:
            raise InputError(f"box {box} is outside the frame ({width} x {height} pixels, W x H)")
