"""Prompt simulation of SAM 2's training (the paper's section 4 / appendix, as the reference
`training/model/sam2.py` does it), rule by rule.

Frames: points are (x, y) pixel indices in the model-input frame (image_size x image_size, the
square SAM 2 resizes to), as the reference's samplers return them. Each rule has a unit test in
tests/training_suite/test_sam2_prompts.py.

Per clip (one draw per micro-batch, as the reference draws once per forward):
1. With probability `prob_to_use_pt_input` the prompts are points or boxes; otherwise the GT mask
   of each initial conditioning frame is the prompt. A 1-frame clip (an image) always uses points.
2. 1..`num_init_cond_frames` initial conditioning frames (random count when `rand_init_cond_frames`):
   frame 0 plus distinct random later frames.
3. With points, each initial conditioning frame gets, with probability `prob_to_use_box_input`, the
   GT box with uniform corner noise (+-10% of the side, at most 20 px at 1024 px), else one point
   uniform inside the GT mask.
4. With points, corrective clicks go on the initial conditioning frames plus random other frames, up
   to `num_frames_to_correct` in all (a random number in between when `rand_frames_to_correct`):
   `num_correction_pt_per_frame` clicks each, every click uniform over the error region of the
   previous prediction (false negative -> label 1, false positive -> label 0; no error -> a negative
   click on the background), or with probability `prob_to_sample_from_gt` uniform over the GT as if
   nothing had been predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from samkit.training.prompts import mask_boxes_xyxy


@dataclass(frozen=True)
class Sam2PromptConfig:
    """The reference's training settings (configs/sam2.1_training/*.yaml)."""

    prob_to_use_pt_input: float = 0.5
    prob_to_use_box_input: float = 0.5  # of the point-input clips: 0.25 of all clips start from a box
    prob_to_sample_from_gt: float = 0.1
    num_frames_to_correct: int = 2
    rand_frames_to_correct: bool = True
    add_all_frames_to_correct_as_cond: bool = True
    num_init_cond_frames: int = 2
    rand_init_cond_frames: bool = True
    num_correction_pt_per_frame: int = 7
    box_noise_frac: float = 0.1
    box_noise_max_px: float = 20.0  # in a 1024-pixel input; scaled by image_size / 1024


@dataclass(frozen=True)
class ClipPromptPlan:
    """Which frames get which prompt. init_cond_frames: processed first, in this order (frame 0
    first); box_frames: the init frames prompted by a box (points only); frames_to_correct: frames
    that get corrective clicks (empty with mask prompts)."""

    num_frames: int
    use_pt_input: bool
    init_cond_frames: tuple[int, ...]
    box_frames: tuple[int, ...]
    frames_to_correct: tuple[int, ...]

    @property
    def processing_order(self) -> list[int]:
        rest = [t for t in range(self.num_frames) if t not in self.init_cond_frames]
        return list(self.init_cond_frames) + rest


def plan_clip_prompts(cfg: Sam2PromptConfig, num_frames: int, rng: np.random.Generator) -> ClipPromptPlan:
    """Draw the prompt plan of one clip (rules 1, 2, 3 and the frame choice of 4)."""
    prob_pt, n_correct, n_init = cfg.prob_to_use_pt_input, cfg.num_frames_to_correct, cfg.num_init_cond_frames
    if num_frames == 1:  # an image: SAM's task, always from points (reference: "SAM on static images")
        prob_pt, n_correct, n_init = 1.0, 1, 1
    # At least one frame is left to track by memory (with 2 frames and 2 mask-prompted frames the
    # clip would hold nothing to learn; the reference's 8-frame clips never meet this).
    n_init = max(1, min(n_init, num_frames - 1))
    n_correct = max(n_init, min(n_correct, num_frames))
    use_pt = bool(rng.random() < prob_pt)
    if cfg.rand_init_cond_frames and n_init > 1:
        n_init = int(rng.integers(1, n_init, endpoint=True))
    if use_pt and cfg.rand_frames_to_correct and n_correct > n_init:
        n_correct = int(rng.integers(n_init, n_correct, endpoint=True))
    init = [0]
    if n_init > 1:
        init += rng.choice(range(1, num_frames), n_init - 1, replace=False).tolist()
    boxes = []
    if use_pt:
        boxes = [t for t in init if rng.random() < cfg.prob_to_use_box_input]
    if not use_pt:
        correct: list[int] = []  # mask prompts get no corrections (as in the reference)
    elif n_correct == len(init):
        correct = list(init)
    else:
        rest = [t for t in range(num_frames) if t not in init]
        correct = init + rng.choice(rest, n_correct - len(init), replace=False).tolist()
    return ClipPromptPlan(num_frames, use_pt, tuple(int(t) for t in init), tuple(int(t) for t in boxes),
                          tuple(int(t) for t in correct))


def box_corner_points(gt: torch.Tensor, cfg: Sam2PromptConfig, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy GT boxes as SAM 2's two corner points. gt: N x H x W bool (non-empty).

    Each coordinate moves uniformly by up to min(box_noise_frac x side, box_noise_max_px scaled to
    this input), then is clipped to the image. Returns coords N x 2 x 2 float (x, y) and labels
    N x 2 int32 (2 = top-left, 3 = bottom-right).
    """
    n, h, w = gt.shape
    boxes = mask_boxes_xyxy(gt)
    if cfg.box_noise_frac > 0:
        bound = torch.tensor(cfg.box_noise_max_px * max(h, w) / 1024.0, device=gt.device)
        max_dx = torch.minimum((boxes[:, 2] - boxes[:, 0]) * cfg.box_noise_frac, bound)
        max_dy = torch.minimum((boxes[:, 3] - boxes[:, 1]) * cfg.box_noise_frac, bound)
        noise = 2 * torch.rand((n, 4), generator=generator, device=gt.device) - 1
        boxes = boxes + noise * torch.stack([max_dx, max_dy, max_dx, max_dy], dim=1)
        limit = torch.tensor([w - 1, h - 1, w - 1, h - 1], dtype=boxes.dtype, device=gt.device)
        boxes = torch.minimum(boxes.clamp(min=0.0), limit)
    labels = torch.tensor([[2, 3]], dtype=torch.int32, device=gt.device).repeat(n, 1)
    return boxes.reshape(n, 2, 2), labels


def error_clicks(gt: torch.Tensor, pred: torch.Tensor | None, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One click per object, uniform over its error region. gt, pred: N x H x W bool (pred None =
    nothing predicted, so the click lands uniformly inside the GT).

    A false-negative pixel gives label 1, a false-positive pixel label 0; where the prediction is
    already exact, a negative click uniform over the background (the reference's rule, which keeps
    teaching "this is not the object"). Returns coords N x 1 x 2 float (x, y), labels N x 1 int32.
    """
    if pred is None:
        pred = torch.zeros_like(gt)
    fn = gt & ~pred
    fp = pred & ~gt
    exact = ~(fn | fp).flatten(1).any(dim=1)
    region = fn | fp | (exact[:, None, None] & ~gt)
    n, h, w = gt.shape
    scores = torch.rand((n, h * w), generator=generator, device=gt.device)
    scores = scores.masked_fill(~region.reshape(n, -1), -1.0)
    flat = scores.argmax(dim=1)
    ys, xs = flat // w, flat % w
    labels = fn.reshape(n, -1)[torch.arange(n, device=gt.device), flat].to(torch.int32)
    coords = torch.stack([xs, ys], dim=1).float()
    return coords[:, None], labels[:, None]


def concat_points(point_inputs: dict | None, coords: torch.Tensor, labels: torch.Tensor) -> dict:
    """Append clicks to a {"point_coords": N x P x 2, "point_labels": N x P} prompt (or start one)."""
    if point_inputs is None:
        return {"point_coords": coords, "point_labels": labels}
    return {"point_coords": torch.cat([point_inputs["point_coords"], coords], dim=1),
            "point_labels": torch.cat([point_inputs["point_labels"], labels], dim=1)}
