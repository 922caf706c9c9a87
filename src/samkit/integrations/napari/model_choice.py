"""Which model the plugin segments with: the built-in SAM 1, the built-in SAM 2, or a checkpoint file.

Models are loaded once per choice and kept (loading the built-in models takes a fraction of a
second, an official vit_h checkpoint several seconds), so switching back and forth is free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from samkit.errors import InputError

BUILTIN_SAM1 = "built-in SAM 1"
BUILTIN_SAM2 = "built-in SAM 2"
CHECKPOINT = "checkpoint file"
CHOICES = (BUILTIN_SAM2, BUILTIN_SAM1, CHECKPOINT)

_LOADED: dict[tuple[str, str], object] = {}


@dataclass(frozen=True)
class ModelSpec:
    """choice: one of CHOICES; checkpoint: the file for CHECKPOINT (official .pth/.pt or samkit
    .safetensors, SAM 1 or SAM 2: the file says which)."""

    choice: str = BUILTIN_SAM2
    checkpoint: str = ""

    def key(self) -> tuple[str, str]:
        return (self.choice, os.path.abspath(os.path.expanduser(self.checkpoint)) if self.choice == CHECKPOINT else "")


def load_chosen_model(spec: ModelSpec):
    """The model for `spec` (eval mode, CPU/GPU as samkit.load_model picks), loaded once and kept."""
    if spec.choice not in CHOICES:
        raise InputError(f"unknown model choice {spec.choice!r}; expected one of {list(CHOICES)}")
    key = spec.key()
    model = _LOADED.get(key)
    if model is not None:
        return model
    from samkit.build import load_model

    if spec.choice == BUILTIN_SAM1:
        model = load_model()
    elif spec.choice == BUILTIN_SAM2:
        model = load_model("sam2")
    else:
        path = Path(key[1]) if spec.checkpoint.strip() else None
        if path is None or not path.is_file():
            raise InputError(f"checkpoint file not found: {spec.checkpoint!r} (choose a .pth/.pt/.safetensors file, "
                             f"or pick {BUILTIN_SAM2!r})")
        model = load_model(checkpoint=path)
    _LOADED[key] = model
    return model


def remember_model(spec: ModelSpec, model) -> None:
    """Use `model` for `spec` from now on (tests give tiny random-weight models this way)."""
    _LOADED[spec.key()] = model


def forget_models() -> None:
    _LOADED.clear()
