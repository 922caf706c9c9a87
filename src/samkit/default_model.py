"""The built-in model that samkit uses when no checkpoint is given (docs/model-card.md).

A `vit_cpu` SAM trained by samkit itself (MAE pre-training, then SAM's interactive training),
stored in float16 inside the package and cast to float32 on load.
"""

from __future__ import annotations

from pathlib import Path

from samkit.errors import CheckpointError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "samkit_default.safetensors"


def load_default_model():
    """Load the samkit-trained default model shipped inside the package (eval mode, float32)."""
    from samkit.build import load_checkpoint

    if not DEFAULT_WEIGHTS.is_file():
        # Only a broken install gets here (the file is package data): say how to go on.
        raise CheckpointError(
            f"the built-in model file {DEFAULT_WEIGHTS} is missing from this samkit install; reinstall "
            "samkit, or pass --checkpoint PATH (official weights: `samkit download vit_b`)"
        )
    return load_checkpoint(DEFAULT_WEIGHTS).eval()
