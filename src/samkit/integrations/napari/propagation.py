"""Propagate one object through a z-stack or a time-lapse: the slices are the frames of a video.

With a SAM 2 model, SAM 2's video predictor (samkit.video) tracks the object from the prompted
slice to the last one, then from the prompted slice back to the first, with its memory of the
prompt and the recent slices. With a SAM 1 model there is no memory: each slice is prompted with
the box of the mask found on the slice before it (the way one would do it by hand).

The stack is given as Z x H x W x 3 uint8 planes (image_planes.stack_planes); StackFrames feeds
them to the video predictor exactly as a folder of PNG frames would be read (PIL, bicubic resize).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from samkit.errors import InputError
from samkit.inference.model_family import image_predictor, is_sam2_model
from samkit.integrations.napari.prompt_layers import SlicePrompts
from samkit.video.frame_source import FrameSource

# Settings of samkit's own video paths (samkit track, the annotator): holes of up to 8 low-res
# pixels filled; memory bounded on long stacks.
VIDEO_SETTINGS = {"fill_hole_area": 8, "release_old_frames": True}
_VIDEO_PREDICTORS: dict[int, object] = {}


class StackFrames(FrameSource):
    """An in-memory stack (Z x H x W x 3 uint8) as a frame source for SAM2VideoPredictor.init_state."""

    def __init__(self, planes: np.ndarray, image_size: int, cache_frames: int = 4) -> None:
        super().__init__(image_size, cache_frames)
        planes = np.asarray(planes)
        if planes.ndim != 4 or planes.shape[-1] != 3 or planes.dtype != np.uint8:
            raise InputError(f"a stack must be Z x H x W x 3 uint8, got {planes.shape} {planes.dtype}")
        self.planes = planes
        self.num_frames, self.video_height, self.video_width = planes.shape[:3]

    def _read(self, index: int) -> np.ndarray:
        from PIL import Image

        return self._resize(Image.fromarray(self.planes[index]))

    def original_frame(self, index: int) -> np.ndarray:
        return self.planes[self._check_index(index)]


def video_predictor_for(model):
    """SAM2VideoPredictor sharing `model`'s weights, made once per model."""
    predictor = _VIDEO_PREDICTORS.get(id(model))
    if predictor is None or predictor.image_encoder is not model.image_encoder:
        from samkit.video.build_video import video_predictor_from_model

        predictor = video_predictor_from_model(model, **VIDEO_SETTINGS)
        predictor.show_progress = False  # napari shows its own progress bar
        _VIDEO_PREDICTORS[id(model)] = predictor
    return predictor


def check_prompt(planes: np.ndarray, frame_idx: int, prompts: SlicePrompts | None, mask: np.ndarray | None) -> None:
    if not 0 <= frame_idx < len(planes):
        raise InputError(f"slice {frame_idx} is outside the stack (it has {len(planes)} slices)")
    if (prompts is None or prompts.empty) and (mask is None or not np.any(mask)):
        raise InputError(f"nothing to propagate from slice {frame_idx}: segment the object there first "
                         f"(a click or a box), or pick the object id it has in the labels layer")


def propagate_sam2(video_predictor, planes: np.ndarray, frame_idx: int, obj_id: int = 1,
                   prompts: SlicePrompts | None = None, mask: np.ndarray | None = None
                   ) -> Iterator[tuple[int, np.ndarray]]:
    """Yields (slice index, H x W bool mask) for every slice once: the prompted slice and those after
    it in order, then those before it, nearest first. The prompt is the slice's clicks/box or, when
    there are none, the object's mask there (H x W bool)."""
    check_prompt(planes, frame_idx, prompts, mask)
    state = video_predictor.init_state(StackFrames(planes, video_predictor.image_size))
    if prompts is not None and not prompts.empty:
        has_points = len(prompts.points_xy) > 0
        video_predictor.add_new_points_or_box(
            state, frame_idx=frame_idx, obj_id=obj_id, points=prompts.points_xy if has_points else None,
            labels=prompts.point_labels if has_points else None, box=prompts.box_xyxy)
    else:
        video_predictor.add_new_mask(state, frame_idx=frame_idx, obj_id=obj_id, mask=np.asarray(mask, dtype=bool))
    for reverse in (False, True):
        for t, _, logits in video_predictor.propagate_in_video(state, start_frame_idx=frame_idx, reverse=reverse):
            if reverse and t == frame_idx:
                continue  # yielded by the forward pass already
            yield t, (logits[0, 0] > 0).numpy(force=True)


def propagate_by_boxes(model, planes: np.ndarray, frame_idx: int, mask: np.ndarray, margin_px: int = 4
                       ) -> Iterator[tuple[int, np.ndarray]]:
    """SAM 1 (no memory): slice k+1 (or k-1) is prompted with the box of slice k's mask, grown by
    `margin_px`; stops (empty masks) once a mask comes out empty. Yields as propagate_sam2."""
    check_prompt(planes, frame_idx, None, mask)
    predictor = image_predictor(model)
    h, w = planes.shape[1:3]
    yield frame_idx, np.asarray(mask, dtype=bool)
    for step in (1, -1):
        prev = np.asarray(mask, dtype=bool)
        for t in range(frame_idx + step, len(planes) if step > 0 else -1, step):
            if prev.any():
                ys, xs = np.nonzero(prev)
                box = np.array([max(xs.min() - margin_px, 0), max(ys.min() - margin_px, 0),
                                min(xs.max() + margin_px, w - 1), min(ys.max() + margin_px, h - 1)], dtype=np.float32)
                predictor.set_image(planes[t])
                masks, _, _ = predictor.predict(box=box, multimask_output=False)
                prev = np.asarray(masks[0]) > 0
            yield t, prev


def propagate_object(model, planes: np.ndarray, frame_idx: int, obj_id: int = 1,
                     prompts: SlicePrompts | None = None, mask: np.ndarray | None = None
                     ) -> Iterator[tuple[int, np.ndarray]]:
    """The right propagation for `model`: SAM 2's video predictor, or box-by-box for SAM 1 (which
    needs the object's mask on the prompted slice). A generator function, so that napari's thread
    worker advances its progress bar once per slice."""
    if is_sam2_model(model):
        yield from propagate_sam2(video_predictor_for(model), planes, frame_idx, obj_id, prompts, mask)
    else:
        yield from propagate_by_boxes(model, planes, frame_idx, mask)
