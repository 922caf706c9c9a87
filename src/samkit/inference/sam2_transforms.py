"""SAM 2's image/prompt/mask transforms: drop-in for `sam2.utils.transforms.SAM2Transforms`.

Frames. original: the user's H x W image, pixels. input: the model's square S x S input (S =
model.image_size); SAM 2 resizes the whole image to S x S *without* keeping the aspect ratio, so
there is no padding and the low-res masks (S/4 x S/4 logits) map onto the whole original image.
normalized: coordinates divided by the original width/height, in [0, 1].

Hole/sprinkle removal. The reference fills small background holes and removes small foreground
specks of the low-res masks with a CUDA connected-components kernel; without it (any CPU) it warns
and skips the step. samkit does it on the CPU with OpenCV (or SciPy when OpenCV is missing; both come
with the `amg`/`eval` extras), 8-connectivity as in the reference, so `max_hole_area` and
`max_sprinkle_area` work everywhere. With neither installed it warns and skips, as the reference does.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samkit.errors import InputError

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def image_to_array(image) -> np.ndarray:
    """An H x W x 3 uint8 RGB array from a numpy array or a PIL image (PIL modes other than RGB are
    converted: grayscale, palette, RGBA drop to RGB), or InputError naming what was wrong."""
    if not isinstance(image, np.ndarray):
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - Pillow is a core dependency
            Image = None
        if Image is not None and isinstance(image, Image.Image):
            image = np.array(image if image.mode == "RGB" else image.convert("RGB"))  # writable, for torch
        else:
            raise InputError(f"image must be an H x W x 3 uint8 numpy array or a PIL image, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must have shape H x W x 3 (RGB), got {image.shape}")
    if image.dtype != np.uint8:
        raise InputError(f"image must be uint8 with values 0..255, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image is empty: {image.shape}")
    return image


def component_areas(masks: torch.Tensor) -> torch.Tensor:
    """Area (pixel count) of the 8-connected component each True pixel belongs to; 0 elsewhere.

    masks: N x 1 x H x W bool (any device). Returns N x 1 x H x W int32 on the same device. This is the
    `counts` output of the reference's CUDA `get_connected_components` (its labels are only ever
    compared with 0, which `areas > 0` answers too).
    """
    arr = masks.detach().to("cpu", torch.uint8).numpy()
    out = np.zeros(arr.shape, dtype=np.int32)
    try:
        import cv2

        for i in range(arr.shape[0]):
            n, labels, stats, _ = cv2.connectedComponentsWithStats(arr[i, 0], connectivity=8, ltype=cv2.CV_32S)
            areas = stats[:, cv2.CC_STAT_AREA].astype(np.int32)
            areas[0] = 0  # label 0 is the background of this binary image
            out[i, 0] = areas[labels]
    except ImportError:
        from scipy import ndimage

        structure = np.ones((3, 3), dtype=bool)
        for i in range(arr.shape[0]):
            labels, _ = ndimage.label(arr[i, 0], structure=structure)
            areas = np.bincount(labels.ravel()).astype(np.int32)
            areas[0] = 0
            out[i, 0] = areas[labels]
    return torch.from_numpy(out).to(masks.device)


class SAM2Transforms(nn.Module):
    """Same constructor, attributes and methods as the reference's SAM2Transforms."""

    def __init__(self, resolution: int, mask_threshold: float, max_hole_area: float = 0.0,
                 max_sprinkle_area: float = 0.0) -> None:
        super().__init__()
        self.resolution = resolution
        self.mask_threshold = mask_threshold
        self.max_hole_area = max_hole_area
        self.max_sprinkle_area = max_sprinkle_area
        self.mean = list(IMAGE_MEAN)
        self.std = list(IMAGE_STD)
        self._mean = torch.tensor(IMAGE_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGE_STD).view(3, 1, 1)

    # ---------------------------------------------------------------- images
    def to_tensor(self, image) -> torch.Tensor:
        """H x W x 3 uint8 (numpy or PIL) -> 3 x H x W float32 in [0, 1] (torchvision's ToTensor)."""
        arr = image_to_array(image)
        if not arr.flags.writeable:  # torch.from_numpy warns on read-only arrays (e.g. decoded images)
            arr = arr.copy()
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(torch.float32).div_(255)

    def transforms(self, x: torch.Tensor) -> torch.Tensor:
        """3 x H x W in [0, 1] -> 3 x S x S normalized: antialiased bilinear resize (torchvision's Resize
        on tensors), then (x - mean) / std, in the reference's order so the values are identical."""
        s = self.resolution
        x = F.interpolate(x[None], size=(s, s), mode="bilinear", align_corners=False, antialias=True)[0]
        return x.sub_(self._mean.to(x.device)).div_(self._std.to(x.device))

    def __call__(self, x) -> torch.Tensor:
        """An H x W x 3 uint8 image -> the model input, 3 x S x S float32."""
        return self.transforms(self.to_tensor(x))

    def forward_batch(self, img_list) -> torch.Tensor:
        """A list of images (any sizes) -> B x 3 x S x S."""
        return torch.stack([self(img) for img in img_list], dim=0)

    # ---------------------------------------------------------------- prompts
    def transform_coords(self, coords: torch.Tensor, normalize: bool = False, orig_hw=None) -> torch.Tensor:
        """... x 2 (x, y) -> input-frame pixels. normalize=True: coords are original-image pixels
        (orig_hw = (H, W) required); False: coords are already normalized to [0, 1]."""
        if normalize:
            if orig_hw is None:
                raise InputError("transform_coords(normalize=True) needs orig_hw = (H, W)")
            h, w = orig_hw
            coords = coords.clone()
            coords[..., 0] = coords[..., 0] / w
            coords[..., 1] = coords[..., 1] / h
        return coords * self.resolution

    def transform_boxes(self, boxes: torch.Tensor, normalize: bool = False, orig_hw=None) -> torch.Tensor:
        """B x 4 xyxy -> B x 2 x 2 corners in the input frame (see transform_coords)."""
        return self.transform_coords(boxes.reshape(-1, 2, 2), normalize, orig_hw)

    # ---------------------------------------------------------------- masks
    def fill_holes_and_sprinkles(self, masks: torch.Tensor) -> torch.Tensor:
        """B x K x h x w logits with small background holes set to threshold + 10 (foreground) and small
        foreground specks set to threshold - 10, when max_hole_area / max_sprinkle_area > 0. Both
        component sets are found on the input masks, as the reference does."""
        if self.max_hole_area <= 0 and self.max_sprinkle_area <= 0:
            return masks
        t = self.mask_threshold
        flat = masks.flatten(0, 1).unsqueeze(1)
        try:
            hole_areas = component_areas(flat <= t) if self.max_hole_area > 0 else None
            speck_areas = component_areas(flat > t) if self.max_sprinkle_area > 0 else None
        except ImportError as e:
            warnings.warn(f"{e}\n\nSkipping hole/sprinkle removal: it needs OpenCV or SciPy "
                          "(pip install 'samkit[amg]').", category=UserWarning, stacklevel=3)
            return masks
        if hole_areas is not None:
            is_hole = ((hole_areas > 0) & (hole_areas <= self.max_hole_area)).reshape_as(masks)
            masks = torch.where(is_hole, t + 10.0, masks)
        if speck_areas is not None:
            is_speck = ((speck_areas > 0) & (speck_areas <= self.max_sprinkle_area)).reshape_as(masks)
            masks = torch.where(is_speck, t - 10.0, masks)
        return masks

    def postprocess_masks(self, masks: torch.Tensor, orig_hw) -> torch.Tensor:
        """B x K x h x w low-res logits -> B x K x H x W logits in the original frame (bilinear), after
        hole/sprinkle removal. Differentiable when that removal is off (fine-tuning scripts use it)."""
        masks = self.fill_holes_and_sprinkles(masks.float())
        return F.interpolate(masks, tuple(orig_hw), mode="bilinear", align_corners=False)
