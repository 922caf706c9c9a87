"""The built-in model that samkit uses when no checkpoint is given."""

from __future__ import annotations

from pathlib import Path

from samkit.errors import CheckpointError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "samkit_default.safetensors"


def load_default_model():
    """Load the samkit-trained default model shipped inside the package."""
    from samkit.build import load_checkpoint

    if not DEFAULT_WEIGHTS.is_file():
        raise CheckpointError(
            "no built-in model is bundled with this samkit version yet; pass --checkpoint PATH "
            "(get official weights with `samkit download vit_b`) or --model NAME for random weights"
        )
    return load_checkpoint(DEFAULT_WEIGHTS)
