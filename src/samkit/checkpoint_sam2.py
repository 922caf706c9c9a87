"""SAM 2 checkpoints: what a state dict is (SAM 1 or SAM 2, which preset), strict loading, and
samkit's self-describing safetensors format for SAM 2.

Official files (sam2.1_hiera_*.pt, sam2_hiera_*.pt) are `{"model": state_dict}`, read with
torch.load(weights_only=True). samkit's format is one .safetensors file with the Sam2Config JSON
in its metadata (format "samkit.sam2.v1"), written by samkit.save_checkpoint like SAM 1's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from samkit.checkpoint_files import state_dict_mismatch
from samkit.config_sam2 import SAM2_PRESETS, Sam2Config
from samkit.errors import CheckpointError

if TYPE_CHECKING:
    from samkit.modeling.sam2.sam2_base import SAM2Base

SAFETENSORS_FORMAT_SAM2 = "samkit.sam2.v1"

# Key prefixes only one family has: SAM 1 names its heads prompt_encoder / mask_decoder and its
# ViT blocks image_encoder.blocks; SAM 2 has sam_prompt_encoder / sam_mask_decoder, a Hiera trunk
# and the video memory modules.
_SAM2_PREFIXES = ("sam_mask_decoder.", "sam_prompt_encoder.", "image_encoder.trunk.", "memory_attention.",
                  "memory_encoder.")
_SAM1_PREFIXES = ("mask_decoder.", "prompt_encoder.", "image_encoder.blocks.", "image_encoder.layers.",
                  "image_encoder.patch_embed.")


def checkpoint_family(state: dict[str, torch.Tensor]) -> str | None:
    """"sam2", "sam1" or None (neither) for a raw state dict."""
    if any(k.startswith(_SAM2_PREFIXES) for k in state):
        return "sam2"
    if any(k.startswith(_SAM1_PREFIXES) for k in state):
        return "sam1"
    return None


def _stage_depths(state: dict[str, torch.Tensor]) -> tuple[int, ...]:
    """Hiera blocks per stage: a new stage starts where a block's output width changes."""
    widths = []
    i = 0
    while (w := state.get(f"image_encoder.trunk.blocks.{i}.attn.qkv.weight")) is not None:
        widths.append(w.shape[0] // 3)
        i += 1
    depths: list[int] = []
    for j, width in enumerate(widths):
        if j == 0 or width != widths[j - 1]:
            depths.append(0)
        depths[-1] += 1
    return tuple(depths)


def _signature_of_state(state: dict[str, torch.Tensor]) -> tuple | None:
    patch = state.get("image_encoder.trunk.patch_embed.proj.weight")
    neck = state.get("image_encoder.neck.convs.0.conv.weight")
    tpos = state.get("maskmem_tpos_enc")
    if patch is None or neck is None or tpos is None:
        return None
    is_21 = "no_obj_embed_spatial" in state or "obj_ptr_tpos_proj.weight" in state
    return (patch.shape[0], _stage_depths(state), is_21, neck.shape[0], tpos.shape[-1])


def _signature_of_config(cfg: Sam2Config) -> tuple:
    t = cfg.image_encoder.trunk
    return (t.embed_dim, tuple(t.stages), cfg.version == "2.1", cfg.hidden_dim, cfg.mem_dim)


def guess_sam2_preset(state: dict[str, torch.Tensor]) -> str | None:
    """Which SAM 2 preset a raw state dict belongs to, from trunk width, stage depths, hidden and
    memory widths, and SAM 2.1's extra parameters (no_obj_embed_spatial, obj_ptr_tpos_proj)."""
    sig = _signature_of_state(state)
    if sig is None:
        return None
    for name, cfg in SAM2_PRESETS.items():
        if _signature_of_config(cfg) == sig:
            return name
    return None


def describe_state_dict(state: dict[str, torch.Tensor]) -> str | None:
    """A few words for error messages: "a SAM 2.1 checkpoint (looks like sam2.1_hiera_t)"."""
    family = checkpoint_family(state)
    if family == "sam2":
        guess = guess_sam2_preset(state)
        version = "SAM 2.1" if ("no_obj_embed_spatial" in state or "obj_ptr_tpos_proj.weight" in state) else "SAM 2"
        return f"a {version} checkpoint" + (f" (looks like {guess})" if guess else "")
    if family == "sam1":
        from samkit.checkpoint_files import guess_sam1_preset as _guess_preset

        guess = _guess_preset(state)
        return "a SAM 1 checkpoint" + (f" (looks like {guess})" if guess else "")
    return None


def load_sam2_state_dict_strict(model: "SAM2Base", state: dict[str, torch.Tensor], source: str,
                                preset: str) -> None:
    """Load with a strict key and shape check; the error names the file, what did not fit, and
    which preset (or which model family) the file looks like."""
    if checkpoint_family(state) == "sam1":
        raise CheckpointError(f"{source} is {describe_state_dict(state)}, not a SAM 2 one (you asked for "
                              f"{preset}); load it with samkit.load_model(checkpoint=...) or sam_model_registry")
    parts = state_dict_mismatch(model.state_dict(), state)
    if parts:
        guess = guess_sam2_preset(state)
        if guess and guess != preset:
            hint = f"; it looks like {guess}, you asked for {preset}"
        elif guess is None and checkpoint_family(state) is None:
            hint = "; it is not a SAM 2 state dict"
        else:
            hint = ""
        raise CheckpointError(f"{source} does not fit preset {preset}: {', '.join(parts)}{hint}")
    model.load_state_dict(state, strict=True)


def read_sam2_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of an official `{"model": state_dict}` file (or a bare state dict)."""
    from samkit.checkpoint_files import read_torch_state_dict as _read_torch_state_dict

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return _read_torch_state_dict(path)


def is_safetensors_file(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(16)
    return path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{")


def read_sam2_safetensors_config(meta: dict[str, str], path: Path) -> Sam2Config:
    from samkit.checkpoint_files import SAFETENSORS_CONFIG_KEY

    try:
        return Sam2Config.from_json(meta[SAFETENSORS_CONFIG_KEY])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: invalid samkit SAM 2 config in metadata: {e}") from None


def read_safetensors_state(path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file, floats cast to the model's dtypes (fp16 files load as fp32)."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read tensors ({type(e).__name__}: {e})") from None
    dtype_of = {k: v.dtype for k, v in model.state_dict().items()}
    return {k: (v.to(dtype_of[k]) if k in dtype_of and v.is_floating_point() else v) for k, v in state.items()}
