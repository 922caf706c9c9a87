"""Which family a loaded model is (SAM 1 `Sam` or SAM 2 `SAM2Base`), and the image predictor for it.

Everything downstream that takes "a model" (the CLI, the server, evaluation) asks here instead of
testing classes itself, so a third family means one more branch in one file. The test is by
interface, not by class: SAM 2 models (samkit's or the reference `sam2` package's) have
`sam_mask_decoder` and `image_size`; SAM 1 models have `mask_decoder` and `image_encoder.img_size`.
"""

from __future__ import annotations

import os

from torch import nn

SAM1 = "sam1"
SAM2 = "sam2"


def model_family(model: nn.Module) -> str:
    """"sam2" for a SAM2Base, "sam1" for a Sam (SAM, MobileSAM, samkit's own presets)."""
    return SAM2 if hasattr(model, "sam_mask_decoder") and hasattr(model, "forward_image") else SAM1


def is_sam2_model(model: nn.Module) -> bool:
    return model_family(model) == SAM2


def image_predictor(model: nn.Module, cache_dir: str | os.PathLike | None = None):
    """SamPredictor for SAM 1, SAM2ImagePredictor for SAM 2: the same set_image / predict / segment
    interface, prompts in original-image pixels. cache_dir: keep image features on disk by content."""
    if is_sam2_model(model):
        from samkit.inference.sam2_predictor import SAM2ImagePredictor

        return SAM2ImagePredictor(model, cache_dir=cache_dir)
    from samkit.inference.predictor import SamPredictor

    return SamPredictor(model, cache_dir=cache_dir)


def family_of(name: str | None, checkpoint: str | os.PathLike | None) -> str:
    """"sam2" or "sam1" for what `samkit.load_model(name, checkpoint)` would build, without building it:
    the name decides when given; else a checkpoint's safetensors header or its state-dict keys (a
    memory-mapped load, no weights read); neither is samkit's built-in SAM 1 model. Never fails: a
    missing or unreadable file is "sam1" here and load_model reports it."""
    from samkit.config_sam2 import is_sam2_name

    from samkit.default_model import BUILTIN_SAM2_NAMES

    if name is not None:
        return SAM2 if is_sam2_name(name) or name in BUILTIN_SAM2_NAMES else SAM1
    if checkpoint is None:
        return SAM1
    from pathlib import Path

    path = Path(checkpoint)
    try:
        from samkit.checkpoint_sam2 import checkpoint_family, is_safetensors_file

        if is_safetensors_file(path):
            from samkit.build import read_checkpoint_config
            from samkit.config_sam2 import Sam2Config

            return SAM2 if isinstance(read_checkpoint_config(path)[0], Sam2Config) else SAM1
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
            obj = obj["model"]
        return SAM2 if isinstance(obj, dict) and checkpoint_family(obj) == "sam2" else SAM1
    except Exception:  # missing, truncated or not a checkpoint at all: load_model says so, in one line
        return SAM1


def model_name(model: nn.Module) -> str | None:
    """The preset name in the model's config (None for a model built without one)."""
    return getattr(getattr(model, "config", None), "name", None)
