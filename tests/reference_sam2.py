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
        t = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).contiguous()  # writable copy
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


def reference_sam2_overrides(preset_or_config) -> tuple[str, list[str]]:
    """(config_file, hydra_overrides_extra) that make the reference build exactly this Sam2Config."""
    from samkit.config_sam2 import Sam2Config, get_sam2_preset
    from samkit.config_sam2_hydra import REFERENCE_BASE_CONFIG, to_hydra_overrides

    cfg = preset_or_config if isinstance(preset_or_config, Sam2Config) else get_sam2_preset(preset_or_config)
    return REFERENCE_BASE_CONFIG, to_hydra_overrides(cfg)


def _plain_pooling_sizes(model: nn.Module) -> None:
    """hydra hands list overrides to the reference as ListConfig; nn.MaxPool2d (Hiera's q_stride,
    when a config changes it) needs tuples at forward time."""
    from omegaconf import ListConfig

    for mod in model.modules():
        if isinstance(mod, nn.MaxPool2d):
            for name, value in list(vars(mod).items()):
                if isinstance(value, ListConfig):
                    setattr(mod, name, tuple(value))


def twin_sam2_models(preset_or_config="sam2_test_tiny", seed: int = 0):
    """(reference SAM2Base, samkit SAM2Base) with identical random weights, both CPU, eval, fp32.

    preset_or_config: a SAM 2 preset name (e.g. "sam2_test_tiny", "sam2.1_hiera_t") or a Sam2Config.
    The reference is built from hydra overrides that reproduce the config exactly (so decoder
    post-processing is on only when the config says so: pass cfg.with_eval_postprocessing() for
    build_sam2's eval-time behaviour); its state dict is then loaded strictly into samkit's model.
    """
    from samkit.builder_sam2 import build_sam2_model
    from samkit.config_sam2 import Sam2Config, get_sam2_preset

    cfg = preset_or_config if isinstance(preset_or_config, Sam2Config) else get_sam2_preset(preset_or_config)
    config_file, overrides = reference_sam2_overrides(cfg)
    ref = build_reference_sam2(config_file, overrides, seed=seed)
    _plain_pooling_sizes(ref)
    ours = build_sam2_model(cfg)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref.eval(), ours.eval()
