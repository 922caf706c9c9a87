"""What both model families' checkpoint readers share: the keys of samkit's safetensors metadata,
reading an official PyTorch state dict safely (weights_only=True), and guessing a SAM 1 preset from
tensor shapes. Sits below build.py and the SAM 2 builder so neither has to import the other for them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from samkit.config import PRESETS
from samkit.errors import CheckpointError

SAFETENSORS_CONFIG_KEY = "samkit_config"
SAFETENSORS_FORMAT_KEY = "format"
SAFETENSORS_FORMAT = "samkit.sam.v1"


def state_dict_mismatch(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    """What keeps `state` (a file's) from loading strictly into a model whose state dict is `own`:
    one phrase per kind of problem with its count and first example, [] when it fits."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
    if wrong_shape:
        k = wrong_shape[0]
        parts.append(f"{len(wrong_shape)} shape mismatches (e.g. {k}: file {tuple(state[k].shape)}, "
                     f"model {tuple(own[k].shape)})")
    return parts


def guess_sam1_preset(state: dict[str, torch.Tensor]) -> str | None:
    """Which official preset a raw state dict belongs to, from a few tell-tale tensor shapes."""
    if any(k.startswith("image_encoder.layers.") for k in state):
        return "vit_t"
    pe = state.get("image_encoder.patch_embed.proj.weight")
    if pe is None:
        return None
    dim = pe.shape[0]
    depth = 1 + max((int(k.split(".")[2]) for k in state if k.startswith("image_encoder.blocks.")), default=-1)
    for name, cfg in PRESETS.items():
        e = cfg.encoder
        if e.kind == "vit" and e.embed_dim == dim and e.depth == depth and e.img_size == 1024:
            return name
    return None


def read_torch_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes), not a checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle with code, not a torch file at all
        first_line = (str(e).splitlines() or ["truncated or not a torch file"])[0]
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({type(e).__name__}: "
                              f"{first_line[:200]})") from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # some fine-tuning repos wrap the state dict
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict (name -> tensor), found {type(obj).__name__}")
    return obj
