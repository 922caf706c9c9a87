"""Import open_clip on this CPU-only machine: it imports torchvision, which has no working CPU build here.

open_clip's text tower, tokenizer and ViT image tower never call torchvision; only its image
preprocessing pipeline (which samkit does not use: samkit.modeling.text_open_clip normalises crops
itself) and ResNet towers' frozen batch norm do. This extends the torchvision stand-in of
tests/reference_sam.py with placeholders for the names open_clip imports, each failing loudly if called.
"""

from __future__ import annotations

import enum
import sys
import types

from reference_sam import install_torchvision_stub

TRANSFORM_NAMES = ("Normalize", "Compose", "RandomResizedCrop", "ToTensor", "Resize", "CenterCrop", "ColorJitter",
                   "Grayscale")


def _placeholder(name: str) -> type:
    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"torchvision stand-in: {name} is not available in samkit's tests")

    return type(name, (), {"__init__": __init__})


def install_open_clip_stand_in() -> None:
    install_torchvision_stub()
    tv = sys.modules["torchvision"]
    if not getattr(tv, "_samkit_stub", False) or "torchvision.ops.misc" in sys.modules:
        return  # a real torchvision, or already extended
    misc = types.ModuleType("torchvision.ops.misc")
    misc.FrozenBatchNorm2d = _placeholder("FrozenBatchNorm2d")
    tv.ops.misc = misc
    tr = tv.transforms
    for name in TRANSFORM_NAMES:
        setattr(tr, name, _placeholder(name))
    tr.InterpolationMode = enum.Enum("InterpolationMode", {"NEAREST": "nearest", "BILINEAR": "bilinear",
                                                           "BICUBIC": "bicubic"})
    sys.modules["torchvision.ops.misc"] = misc
