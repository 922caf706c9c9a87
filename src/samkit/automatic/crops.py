"""Crop boxes for multi-scale generation and the maps between a crop's frame and the image's.

Layer 0 is the whole image; layer i >= 1 tiles the image with (2**i)**2 overlapping crops. All boxes
are integer XYXY in original-image pixels (x1, y1 exclusive, as slicing uses them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import torch


@dataclass(frozen=True)
class CropBox:
    """One crop: box_xyxy in image pixels (x1, y1 exclusive) and the crop layer it belongs to."""

    box_xyxy: tuple[int, int, int, int]
    layer: int

    @property
    def hw(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box_xyxy
        return (y1 - y0, x1 - x0)

    @property
    def offset_xy(self) -> tuple[int, int]:
        return (self.box_xyxy[0], self.box_xyxy[1])

    @property
    def box_xywh(self) -> list[int]:
        x0, y0, x1, y1 = self.box_xyxy
        return [x0, y0, x1 - x0, y1 - y0]


def generate_crop_boxes(orig_hw: tuple[int, int], n_layers: int, overlap_ratio: float) -> list[CropBox]:
    """The whole image, then for each layer i>=1 a (2**i) x (2**i) tiling with overlap.

    The overlap of layer i is overlap_ratio * short side * 2 / 2**i pixels; crops are ordered
    x-major (all crops of the first column first), as in segment_anything.
    """
    im_h, im_w = orig_hw
    short_side = min(im_h, im_w)
    crops = [CropBox((0, 0, im_w, im_h), 0)]
    for i_layer in range(n_layers):
        n_per_side = 2 ** (i_layer + 1)
        overlap = int(overlap_ratio * short_side * (2 / n_per_side))
        crop_w = _crop_len(im_w, n_per_side, overlap)
        crop_h = _crop_len(im_h, n_per_side, overlap)
        xs0 = [int((crop_w - overlap) * i) for i in range(n_per_side)]
        ys0 = [int((crop_h - overlap) * i) for i in range(n_per_side)]
        for x0, y0 in product(xs0, ys0):
            crops.append(CropBox((x0, y0, min(x0 + crop_w, im_w), min(y0 + crop_h, im_h)), i_layer + 1))
    return crops


def _crop_len(orig_len: int, n_crops: int, overlap: int) -> int:
    return int(math.ceil((overlap * (n_crops - 1) + orig_len) / n_crops))


def is_box_near_crop_edge(
    boxes_xyxy: torch.Tensor, crop_box_xyxy: tuple[int, ...], orig_box_xyxy: tuple[int, ...], atol: float = 20.0
) -> torch.Tensor:
    """(N,) bool: the box (image frame) lies within atol px of a crop edge that is not an image edge.

    Such masks are probably cut by the crop, so they are dropped; the whole-image layer never drops.
    """
    crop_t = torch.as_tensor(crop_box_xyxy, dtype=torch.float32, device=boxes_xyxy.device)
    orig_t = torch.as_tensor(orig_box_xyxy, dtype=torch.float32, device=boxes_xyxy.device)
    b = boxes_xyxy.float()
    near_crop = torch.isclose(b, crop_t[None, :], atol=atol, rtol=0)
    near_image = torch.isclose(b, orig_t[None, :], atol=atol, rtol=0)
    return (near_crop & ~near_image).any(dim=1)
