"""Import the official `sam2` package (PyPI sam2==1.1.0, the reference) in tests and benchmarks.

sam2 imports torchvision (transforms Normalize/Resize/ToTensor, ops batched_nms/box_area), which has
no working CPU build here. We install stand-ins *before* importing it. They are written
independently of samkit: the transforms are TorchScript-able modules doing what torchvision does on
tensors (bilinear resize with antialias, as torchvision >= 0.17 does by default), the NMS is the
plain greedy one of tests/reference_sam.py. Used only by tests/ and benchmarks/.

sam2 1.1.0 also installs a top-level package named `training`; samkit's test folders are named so
that nothing collides with it (tests/training_suite).
"""

from __future__ import annotations

import sys
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from reference_sam import install_torchvision_stub


class _ToTensor:
    """torchvision.transforms.ToTensor on an H x W x C uint8 array or PIL image -> C x H x W float in [0, 1]."""

    def __call__(self, pic) -> torch.Tensor:
        import numpy as np

        arr = np.asarray(pic)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()
        if t.dtype == torch.uint8:
            return t.to(torch.float32).div(255)
        return t.to(torch.float32)


class _Resize(nn.Module):
    """torchvision.transforms.Resize((h, w)) on a C x H x W float tensor: bilinear, antialias=True."""

    def __init__(self, size: Sequence[int]) -> None:
        super().__init__()
        self.size = [int(size[0]), int(size[1])]

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return F.interpolate(img.unsqueeze(0), size=self.size, mode="bilinear", align_corners=False,
                             antialias=True).squeeze(0)


class _Normalize(nn.Module):
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(-1, 1, 1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return (img - self.mean) / self.std


def install_sam2_torchvision_stub() -> None:
    install_torchvision_stub()
    tv = sys.modules["torchvision"]
    if not getattr(tv, "_samkit_stub", False):
        return  # a real torchvision
    transforms = sys.modules["torchvision.transforms"]
    transforms.ToTensor = _ToTensor
    transforms.Resize = _Resize
    transforms.Normalize = _Normalize


def import_reference_sam2():
    """Return the `sam2` module, importable on this CPU-only machine."""
    install_sam2_torchvision_stub()
    import sam2

    return sam2


def build_reference_sam2(config_file: str = "configs/sam2.1/sam2.1_hiera_t.yaml",
                         hydra_overrides_extra: Sequence[str] = (), seed: int = 0) -> nn.Module:
    """The reference SAM2Base (random weights, CPU, eval mode) for an official config name.

    hydra_overrides_extra: e.g. ["++model.image_size=256"] to shrink a model for fast tests.
    """
    import_reference_sam2()
    from sam2.build_sam import build_sam2

    torch.manual_seed(seed)
    return build_sam2(config_file, ckpt_path=None, device="cpu", mode="eval",
                      hydra_overrides_extra=list(hydra_overrides_extra), apply_postprocessing=False)
