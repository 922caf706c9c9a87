"""Mask propagation methods for the J&F protocol, and the protocol itself.

A propagation method is any callable `(frames, first_mask) -> masks`: frames a list of
H x W x 3 uint8 RGB images, first_mask the H x W bool GT of frame 0, masks one H x W bool per
frame (masks[0] may simply be first_mask). The SAM 2 video predictor is one more method
(video_tracking_method.py: SAM2VideoTracking); here are the two honest baselines:
- `copy_first_mask`: the zero-motion baseline (frame 0's mask everywhere);
- `BoxPropagation(predictor)`: per frame, prompt an image predictor (SAM or GrabCut) with the box
  of the last non-empty mask, grown by `margin_frac` to follow motion (a frame where the
  predictor returns nothing does not end the track: the next frame reuses the last box).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from samkit.evaluation.davis_folders import VideoSequence
from samkit.evaluation.eval_samples import read_rgb
from samkit.evaluation.interactive import box_from_mask
from samkit.evaluation.predictor_protocol import InteractivePredictor
from samkit.evaluation.video_metrics import sequence_j_and_f

PropagationMethod = Callable[[Sequence[np.ndarray], np.ndarray], list]


def copy_first_mask(frames: Sequence[np.ndarray], first_mask: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(first_mask, dtype=bool)] * len(frames)


class BoxPropagation:
    def __init__(self, predictor: InteractivePredictor, margin_frac: float = 0.1):
        self.predictor = predictor
        self.margin_frac = margin_frac

    def __call__(self, frames: Sequence[np.ndarray], first_mask: np.ndarray) -> list[np.ndarray]:
        masks = [np.asarray(first_mask, dtype=bool)]
        last = masks[0]
        if not last.any():
            raise ValueError("the first-frame mask is empty: nothing to propagate")
        for frame in frames[1:]:
            H, W = last.shape
            x0, y0, x1, y1 = box_from_mask(last)
            mx, my = self.margin_frac * (x1 - x0), self.margin_frac * (y1 - y0)
            box = np.array([max(0, x0 - mx), max(0, y0 - my), min(W, x1 + mx), min(H, y1 + my)], np.float32)
            self.predictor.set_image(frame)
            out, _, _ = self.predictor.predict(box=box, multimask_output=False)
            masks.append(np.asarray(out[0], dtype=bool))
            if masks[-1].any():
                last = masks[-1]
        return masks


def evaluate_video(method: PropagationMethod, sequences: Sequence[VideoSequence], desc: str = "video",
                   skip_first: bool = True) -> dict:
    """J&F per (sequence, object) and the mean over all of them (DAVIS's "global" mean)."""
    per_track = {}
    for seq in tqdm(sequences, desc=desc, unit="seq"):
        frames = [read_rgb(p) for p in seq.frame_paths]
        label_maps = [seq.label_map(t) for t in range(len(seq.frame_paths))]
        for obj in seq.object_ids():
            gts = [lm == obj for lm in label_maps]
            preds = method(frames, gts[0])
            if len(preds) != len(frames):
                raise ValueError(f"propagation returned {len(preds)} masks for {len(frames)} frames")
            key = seq.name if len(seq.object_ids()) == 1 else f"{seq.name}/{obj}"
            per_track[key] = sequence_j_and_f(preds, gts, skip_first=skip_first)
    if not per_track:
        raise ValueError("no object to track in the given sequences")
    mean = {k: float(np.mean([r[k] for r in per_track.values()])) for k in ("J", "F", "J&F", "J_recall")}
    return {"mean": mean, "per_sequence": per_track}
