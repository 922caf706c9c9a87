"""SAM 2's video predictor as a propagation method of the J&F protocol (video_propagation.py).

`SAM2VideoTracking(video_predictor, prompt)` is a callable `(frames, first_mask) -> masks`: it
prompts the object on frame 0, then runs `propagate_in_video` over the sequence. The prompts:
- "mask": the first-frame GT mask through `add_new_mask` (the semi-supervised DAVIS setting);
- "clicksN" (N >= 1; clicks1, clicks3, clicks5 by default): N clicks on frame 0 placed by the click
  oracle (click_oracle.py): the first inside the object, each next one in the largest error region
  of the previous frame-0 prediction (fewer when the prediction becomes perfect);
- "box": the GT mask's box on frame 0.
Frames are handed to the predictor from memory (`ArrayFrames`, a samkit.video FrameSource), never
written to disk. One object is tracked at a time, as the protocol asks for one track per object.
Masks are the predictor's at video resolution (logits > 0), frame 0 included (for "mask" it is the
given mask after the model's down- and up-sampling, not the mask itself).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from samkit.errors import InputError
from samkit.evaluation.click_oracle import first_click, next_click
from samkit.evaluation.interactive import box_from_mask
from samkit.video.frame_source import FrameSource

DEFAULT_VIDEO_PROMPTS = ("mask", "clicks1", "clicks3", "clicks5", "box")
_CLICKS = re.compile(r"clicks([1-9][0-9]*)")


class ArrayFrames(FrameSource):
    """A list of H x W x 3 uint8 RGB frames (all the same size) as a frame source."""

    def __init__(self, frames: Sequence[np.ndarray], image_size: int, cache_frames: int = 4) -> None:
        super().__init__(image_size, cache_frames)
        if not len(frames):
            raise InputError("no frames to track")
        self.frames = frames
        self.num_frames = len(frames)
        self.video_height, self.video_width = np.asarray(frames[0]).shape[:2]

    def _read(self, index: int) -> np.ndarray:
        from PIL import Image

        frame = np.asarray(self.frames[index])
        if frame.shape[:2] != (self.video_height, self.video_width):
            raise InputError(f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, frame 0 is "
                             f"{self.video_width}x{self.video_height}: a video's frames share one size")
        return self._resize(Image.fromarray(frame))

    def original_frame(self, index: int) -> np.ndarray:
        return np.asarray(self.frames[self._check_index(index)])


def parse_video_prompts(text: str) -> list[str]:
    """"mask,clicks1,clicks3,box" -> the prompt names, checked (InputError for unknown ones);
    "none" -> [] (no video predictor run)."""
    if text.strip().lower() == "none":
        return []
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not names:
        raise InputError("--video-prompts is empty; expected e.g. mask,clicks1,clicks3,clicks5,box")
    for name in names:
        if name not in ("mask", "box") and not _CLICKS.fullmatch(name):
            raise InputError(f"unknown video prompt {name!r}; expected mask, box or clicksN (N >= 1, e.g. clicks3)")
    if len(set(names)) != len(names):
        raise InputError(f"--video-prompts names a prompt twice: {text!r}")
    return names


def describe_prompt(prompt: str) -> str:
    """A human name for a prompt: "first-frame mask", "1 click", "3 clicks", "box"."""
    if prompt == "mask":
        return "first-frame mask"
    if prompt == "box":
        return "first-frame box"
    n = int(_CLICKS.fullmatch(prompt).group(1))
    return f"{n} click{'s' if n > 1 else ''}"


class SAM2VideoTracking:
    """Track one object with a SAM2VideoPredictor from a frame-0 prompt (see the module docstring).

    clicks_used records, per call of a clicks prompt, how many clicks the oracle placed (it stops
    early when the frame-0 prediction is already perfect)."""

    def __init__(self, video_predictor, prompt: str = "mask") -> None:
        prompts = parse_video_prompts(prompt)
        if len(prompts) != 1:
            raise InputError(f"SAM2VideoTracking takes one prompt (mask, box or clicksN), got {prompt!r}")
        self.prompt = prompts[0]
        self.predictor = video_predictor
        self.clicks_used: list[int] = []

    def __call__(self, frames: Sequence[np.ndarray], first_mask: np.ndarray) -> list[np.ndarray]:
        gt = np.asarray(first_mask, dtype=bool)
        if not gt.any():
            raise ValueError("the first-frame mask is empty: nothing to track")
        source = ArrayFrames(frames, self.predictor.image_size)
        if gt.shape != (source.video_height, source.video_width):
            raise ValueError(f"first-frame mask {gt.shape} and frames {(source.video_height, source.video_width)} "
                             f"differ in size")
        state = self.predictor.init_state(source)
        self._prompt_first_frame(state, gt)
        masks: list = [None] * len(frames)
        for frame_idx, _, video_res_masks in self.predictor.propagate_in_video(state, start_frame_idx=0):
            masks[frame_idx] = (video_res_masks[0, 0] > 0).cpu().numpy()
        missing = [i for i, m in enumerate(masks) if m is None]
        if missing:
            raise RuntimeError(f"propagate_in_video gave no mask for frames {missing[:5]}")
        return masks

    def _prompt_first_frame(self, state: dict, gt: np.ndarray) -> None:
        p = self.predictor
        if self.prompt == "mask":
            p.add_new_mask(state, frame_idx=0, obj_id=1, mask=gt)
            return
        if self.prompt == "box":
            p.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=np.asarray(box_from_mask(gt), np.float32))
            return
        n_clicks = int(_CLICKS.fullmatch(self.prompt).group(1))
        click, used = first_click(gt), 0
        while click is not None and used < n_clicks:
            _, _, logits = p.add_new_points_or_box(
                state, frame_idx=0, obj_id=1, points=np.array([[click.x, click.y]], np.float32),
                labels=np.array([int(click.is_positive)], np.int32), clear_old_points=used == 0)
            used += 1
            click = next_click(gt, (logits[0, 0] > 0).cpu().numpy())
        self.clicks_used.append(used)


def sam2_video_label(model_label: str, prompt: str) -> str:
    """The results row of a model tracked with the video predictor from `prompt`."""
    return f"{model_label} video, {describe_prompt(prompt)}"


def evaluate_sam2_video(model, sequences, prompts: Sequence[str], model_label: str) -> dict[str, dict]:
    """J&F of `model` (a samkit SAM2Base) tracked by SAM2VideoPredictor from each prompt in turn:
    {row label: {"summary": evaluate_video's output, "method", "video_prompt"[, "mean_clicks"]}}.

    The predictor shares the model's weights; it keeps only the memory window's outputs while
    propagating (release_old_frames: same masks, bounded memory on long sequences)."""
    from samkit.evaluation.video_propagation import evaluate_video
    from samkit.video.build_video import video_predictor_from_model

    predictor = video_predictor_from_model(model, release_old_frames=True)
    predictor.show_progress = False  # the protocol shows one bar over sequences, not one per propagation
    rows = {}
    for prompt in prompts:
        method = SAM2VideoTracking(predictor, prompt)
        label = sam2_video_label(model_label, prompt)
        row = {"summary": evaluate_video(method, sequences, desc=label),
               "method": "SAM2VideoPredictor: frame-0 prompt, propagate_in_video", "video_prompt": prompt}
        if method.clicks_used:
            row["mean_clicks"] = float(np.mean(method.clicks_used))
        rows[label] = row
    return rows
