"""Clicks, boxes and masks given to the video predictor, brought to the model's input frame.

Points arrive as P x 2 (or 1 x P x 2) (x, y): in video pixels with normalize_coords=True (the
default), else already divided by the video width and height (in [0, 1]). Labels are P values
(1 foreground, 0 background). A box is (x0, y0, x1, y1) in the same frame and becomes two points
labelled 2 and 3 put before the clicks. The model frame is image_size x image_size pixels.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from samkit.errors import InputError


def _as_tensor(value, dtype: torch.dtype, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.tensor(value, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise InputError(f"{what} must be numbers (a list, array or tensor): {e}") from None


def prepare_point_prompt(points, labels, box, clear_old_points: bool, normalize_coords: bool,
                         video_hw: tuple[int, int], image_size: int, device: torch.device):
    """(points 1 x P x 2 in model-input pixels, labels 1 x P int32) on `device`."""
    if (points is not None) != (labels is not None):
        raise InputError("points and labels must be provided together")
    if points is None and box is None:
        raise InputError("at least one of points or box must be provided as input")
    points = (torch.zeros(0, 2, dtype=torch.float32) if points is None
              else _as_tensor(points, torch.float32, "points"))
    labels = torch.zeros(0, dtype=torch.int32) if labels is None else _as_tensor(labels, torch.int32, "labels")
    if points.dim() == 2:
        points = points.unsqueeze(0)
    if labels.dim() == 1:
        labels = labels.unsqueeze(0)
    if points.dim() != 3 or points.shape[0] != 1 or points.shape[-1] != 2:
        raise InputError(f"points must be P x 2 (x, y), got shape {tuple(points.shape)}")
    if labels.dim() != 2 or labels.shape != points.shape[:2]:
        raise InputError(f"labels must be P values (one per point), got shape {tuple(labels.shape)} "
                         f"for {points.shape[1]} points")
    if not torch.isfinite(points).all():
        raise InputError("points must be finite numbers")
    if box is not None:
        if not clear_old_points:
            raise InputError("cannot add box without clearing old points, since box prompt must be provided "
                             "before any point prompt (please use clear_old_points=True instead)")
        box = _as_tensor(box, torch.float32, "box")
        if box.numel() != 4 or not torch.isfinite(box).all():
            raise InputError(f"box must be 4 finite numbers (x0, y0, x1, y1), got {box.tolist()}")
        box_coords = box.to(points.device).reshape(1, 2, 2).to(points.dtype)
        box_labels = torch.tensor([[2, 3]], dtype=torch.int32, device=labels.device)
        points = torch.cat([box_coords, points], dim=1)
        labels = torch.cat([box_labels, labels.to(torch.int32)], dim=1)
    if normalize_coords:
        video_h, video_w = video_hw
        points = points / torch.tensor([video_w, video_h]).to(points.device)
    points = points * image_size
    return points.to(device), labels.to(device)


def concat_points(old_point_inputs: dict | None, new_points: torch.Tensor, new_labels: torch.Tensor) -> dict:
    """{"point_coords": 1 x P x 2, "point_labels": 1 x P}, new points after the old ones."""
    if old_point_inputs is None:
        return {"point_coords": new_points, "point_labels": new_labels}
    return {"point_coords": torch.cat([old_point_inputs["point_coords"], new_points], dim=1),
            "point_labels": torch.cat([old_point_inputs["point_labels"], new_labels], dim=1)}


def prepare_mask_prompt(mask, image_size: int, device: torch.device) -> torch.Tensor:
    """A H x W mask (bool or {0, 1}, any size) -> 1 x 1 x S x S binary float on `device`; resized
    with antialiased bilinear interpolation and thresholded at 0.5 when it is not S x S."""
    if not isinstance(mask, torch.Tensor):
        try:
            mask = torch.tensor(mask, dtype=torch.bool)
        except (TypeError, ValueError) as e:
            raise InputError(f"mask must be a H x W array: {e}") from None
    if mask.dim() != 2:
        raise InputError(f"mask must be 2-D (H x W), got shape {tuple(mask.shape)}")
    mask_orig = mask[None, None].float().to(device)
    if tuple(mask.shape) == (image_size, image_size):
        return mask_orig
    resized = F.interpolate(mask_orig, size=(image_size, image_size), align_corners=False, mode="bilinear",
                            antialias=True)
    return (resized >= 0.5).float()
