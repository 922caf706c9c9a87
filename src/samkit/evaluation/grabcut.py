"""OpenCV GrabCut behind the interactive predictor interface: the classical baseline row.

How prompts become GrabCut's trimap (labels GC_BGD / GC_FGD / GC_PR_BGD / GC_PR_FGD):
- box: outside = sure background, inside = probable foreground (GrabCut's rectangle init);
- previous mask (`mask_input`, our own logits fed back by the protocol): probable foreground
  where > 0, probable background elsewhere (inside the box when there is one);
- clicks: hard seeds, a disc of `seed_radius_px` around each click (sure fg / sure bg);
- first click without box or mask: GrabCut needs a foreground guess, so a disc of
  `init_radius_frac` x the image's longest side around the positive clicks is probable foreground.
GrabCut gives one hypothesis, so C = 1 always and the score is a constant 1.0. Its "low-res
logits" are full-resolution +-10 maps (1 x H x W): the protocol only feeds them back to this same
predictor, and full resolution makes that round trip lossless.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from samkit.errors import InputError


class GrabCutPredictor:
    def __init__(self, iterations: int = 5, seed_radius_px: int = 5, init_radius_frac: float = 0.1):
        if iterations < 1:
            raise InputError(f"GrabCut needs >= 1 iteration, got {iterations}")
        self.iterations = iterations
        self.seed_radius_px = seed_radius_px
        self.init_radius_frac = init_radius_frac
        self._image_bgr: Optional[np.ndarray] = None

    @property
    def is_image_set(self) -> bool:
        return self._image_bgr is not None

    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """image: H x W x 3 uint8 in `image_format` ("RGB" or "BGR")."""
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise InputError(f"GrabCut expects an H x W x 3 uint8 image, got {img.dtype} {img.shape}")
        if image_format not in ("RGB", "BGR"):
            raise InputError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
        self._image_bgr = np.ascontiguousarray(img[..., ::-1] if image_format == "RGB" else img)

    def reset_image(self) -> None:
        self._image_bgr = None

    def _trimap(self, hw, point_coords, point_labels, box, mask_input) -> np.ndarray:
        H, W = hw
        trimap = np.full((H, W), cv2.GC_PR_BGD, dtype=np.uint8)
        inside = np.ones((H, W), dtype=bool)
        if box is not None:
            x0, y0, x1, y1 = np.round(np.asarray(box, dtype=np.float64).reshape(4)).astype(int)
            x0, x1 = np.clip([x0, x1], 0, W)
            y0, y1 = np.clip([y0, y1], 0, H)
            inside[:] = False
            inside[y0:y1, x0:x1] = True
            trimap[~inside] = cv2.GC_BGD
            trimap[inside] = cv2.GC_PR_FGD
        if mask_input is not None:
            prev = np.asarray(mask_input, dtype=np.float32).reshape(-1, *np.shape(mask_input)[-2:])[0]
            if prev.shape != (H, W):
                raise InputError(f"GrabCut mask_input must be its own 1 x {H} x {W} logits, got {np.shape(mask_input)}")
            trimap[inside & (prev > 0)] = cv2.GC_PR_FGD
            trimap[inside & (prev <= 0)] = cv2.GC_PR_BGD
        elif box is None and point_coords is not None:
            radius = max(1, int(round(self.init_radius_frac * max(H, W))))
            for (x, y), lab in zip(point_coords, point_labels):
                if lab == 1:
                    cv2.circle(trimap, (int(round(x)), int(round(y))), radius, int(cv2.GC_PR_FGD), -1)
        if point_coords is not None:
            for (x, y), lab in zip(point_coords, point_labels):
                if lab in (0, 1):  # -1 is SAM's padding label: no seed
                    value = cv2.GC_FGD if lab == 1 else cv2.GC_BGD
                    cv2.circle(trimap, (int(round(x)), int(round(y))), self.seed_radius_px, int(value), -1)
        return trimap

    def predict(self, point_coords=None, point_labels=None, box=None, mask_input=None,
                multimask_output: bool = True, return_logits: bool = False):
        """Same call as SamPredictor.predict; returns (1 x H x W masks, (1,) scores, 1 x H x W logits)."""
        if self._image_bgr is None:
            raise InputError("call set_image before predict")
        if point_coords is None and box is None:
            raise InputError("GrabCut needs at least a box or one click")
        if point_coords is not None:
            point_coords = np.asarray(point_coords, dtype=np.float64).reshape(-1, 2)
            point_labels = np.asarray(point_labels).reshape(-1)
            if len(point_labels) != len(point_coords):
                raise InputError(f"{len(point_coords)} points but {len(point_labels)} labels")
        H, W = self._image_bgr.shape[:2]
        trimap = self._trimap((H, W), point_coords, point_labels, box, mask_input)
        fg_like = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
        bg_like = ~fg_like
        if fg_like.any() and not bg_like.any():
            # Both colour models need samples: let the frame edge be probable background.
            trimap[[0, -1], :] = cv2.GC_PR_BGD
            trimap[:, [0, -1]] = cv2.GC_PR_BGD
        if fg_like.any():
            bgd_model = np.zeros((1, 65), np.float64)
            fgd_model = np.zeros((1, 65), np.float64)
            cv2.grabCut(self._image_bgr, trimap, None, bgd_model, fgd_model, self.iterations,
                        cv2.GC_INIT_WITH_MASK)
        mask = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
        logits = np.where(mask, 10.0, -10.0).astype(np.float32)[None]
        masks = logits if return_logits else mask[None]
        return masks, np.ones(1, dtype=np.float32), logits
