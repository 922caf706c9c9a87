"""SAM 2 video tasks: a box drawn on one frame of a Label Studio <Video> is tracked through the
following frames, and comes back as the VideoRectangle's keyframe sequence (one box per frame).

Label Studio's video regions are boxes, so the tracked mask of each frame becomes its bounding box.
Prompts come from the VideoRectangle regions in the interactive call's context: every keyframe the
annotator drew (frames are 1-based there, 0-based here) is a box prompt of the same object; tracking
runs from the last keyframe for `max_frames` frames. SAM 1 models cannot track: an InputError says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from samkit.errors import InputError
from samkit.inference.model_family import is_sam2_model


@dataclass(frozen=True)
class VideoBoxPrompt:
    frame_idx: int  # 0-based
    box_xyxy: np.ndarray  # (4,) in video pixels


@dataclass(frozen=True)
class VideoContext:
    """The VideoRectangle region of an interactive call on a video task."""

    region_id: str
    labels: list
    frames_count: int
    duration_s: float
    sequence: list  # Label Studio's keyframes, as sent (percent boxes, 1-based frames)


def parse_video_context(context: object) -> VideoContext | None:
    results = context.get("result") if isinstance(context, dict) else None
    regions = [r for r in results or [] if isinstance(r, dict) and r.get("type") == "videorectangle"]
    if not regions:
        return None
    region = regions[-1]  # the object being drawn
    value = region.get("value") or {}
    sequence = [k for k in value.get("sequence") or [] if isinstance(k, dict)]
    if not sequence:
        raise InputError("the VideoRectangle region has no keyframes (value.sequence is empty)")
    frames_count, duration = value.get("framesCount"), value.get("duration")
    if not isinstance(frames_count, int) or frames_count < 1 or not isinstance(duration, (int, float)) or duration <= 0:
        raise InputError("the VideoRectangle region needs value.framesCount and value.duration")
    return VideoContext(str(region.get("id") or "track"), list(value.get("labels") or []), frames_count,
                        float(duration), sequence)


def keyframe_prompts(ctx: VideoContext, hw: tuple[int, int]) -> list[VideoBoxPrompt]:
    h, w = hw
    prompts = []
    for key in ctx.sequence:
        if key.get("enabled") is False:
            continue
        try:
            x, y = float(key["x"]) / 100 * w, float(key["y"]) / 100 * h
            bw, bh = float(key["width"]) / 100 * w, float(key["height"]) / 100 * h
            frame = int(key["frame"]) - 1
        except (KeyError, TypeError, ValueError):
            raise InputError("a VideoRectangle keyframe needs numeric frame, x, y, width and height") from None
        prompts.append(VideoBoxPrompt(frame, np.array([x, y, x + bw, y + bh], dtype=np.float32)))
    if not prompts:
        raise InputError("the VideoRectangle region has no enabled keyframe")
    return prompts


def mask_box_pct(mask_hw: np.ndarray) -> dict | None:
    """H x W bool mask -> its bounding box in Label Studio's percent frame, or None when empty."""
    ys, xs = np.nonzero(mask_hw)
    if xs.size == 0:
        return None
    h, w = mask_hw.shape
    return {"x": 100.0 * xs.min() / w, "y": 100.0 * ys.min() / h,
            "width": 100.0 * (xs.max() - xs.min() + 1) / w, "height": 100.0 * (ys.max() - ys.min() + 1) / h}


class VideoTracker:
    def __init__(self, model: nn.Module, max_frames: int = 30) -> None:
        self.model = model
        self.max_frames = max_frames
        self._predictor = None
        self._lock = threading.Lock()

    def track(self, video: bytes, prompts: list[VideoBoxPrompt]) -> tuple[tuple[int, int], dict[int, np.ndarray]]:
        """Video file bytes + box prompts of one object -> (video H x W, {frame_idx: H x W bool mask})
        for the frames after the last prompted one (at most max_frames of them)."""
        if not is_sam2_model(self.model):
            raise InputError("video tasks are tracked with SAM 2: start samkit label-studio with --model sam2 "
                             "(or a SAM 2 checkpoint)")
        with self._lock, torch.inference_mode():
            if self._predictor is None:
                from samkit.video.build_video import video_predictor_from_model

                self._predictor = video_predictor_from_model(self.model)
            state = self._predictor.init_state(video)
            n_frames = int(state["num_frames"])
            hw = (int(state["video_height"]), int(state["video_width"]))
            for prompt in prompts:
                if not 0 <= prompt.frame_idx < n_frames:
                    raise InputError(f"keyframe {prompt.frame_idx + 1} is outside the video's {n_frames} frames")
                self._predictor.add_new_points_or_box(state, prompt.frame_idx, 1, box=prompt.box_xyxy)
            last = max(p.frame_idx for p in prompts)
            masks = {}
            for frame_idx, _, logits in self._predictor.propagate_in_video(state, start_frame_idx=last,
                                                                           max_frame_num_to_track=self.max_frames):
                if frame_idx > last:
                    masks[int(frame_idx)] = (logits[0, 0] > 0).cpu().numpy()
        return hw, masks
