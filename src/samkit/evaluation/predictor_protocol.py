"""The small predictor interface every evaluation protocol runs against.

`samkit.inference.predictor.SamPredictor` (and the reference `segment_anything.SamPredictor`)
already satisfy it; `samkit.evaluation.grabcut.GrabCutPredictor` implements it for OpenCV's
GrabCut, so SAM and the classical baseline go through exactly the same click/box code.

Frames: `image` is H x W x 3 uint8 RGB; `point_coords` is N x 2 (x, y) and `box` is (4,) xyxy,
both in original-image pixels. `mask_input` is 1 x h x w logits in the predictor's own low-res
frame: the protocols only ever feed back what the same predictor returned as `low_res_logits`,
so they never need to know that frame.
"""

from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class InteractivePredictor(Protocol):
    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Prepare for prompts on one H x W x 3 uint8 image (SAM: compute the embedding)."""

    def predict(
        self,
        point_coords: Optional[np.ndarray] = None,
        point_labels: Optional[np.ndarray] = None,
        box: Optional[np.ndarray] = None,
        mask_input: Optional[np.ndarray] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (masks C x H x W bool, scores C float, low_res_logits C x h x w float).

        C is 3 with multimask_output and 1 otherwise (a predictor with a single hypothesis,
        like GrabCut, may always return C = 1). `scores` are the predictor's own quality
        estimates (SAM's predicted IoU); the protocols use them to pick a mask without the GT.
        """
