"""The built-in models that samkit uses when no checkpoint is given.

- SAM 1 (docs/model-card.md): a `vit_cpu` SAM trained by samkit itself (MAE pre-training, then SAM's
  interactive training); what `load_model()` gives.
- SAM 2 (docs/model-card-sam2.md): a `sam2_cpu` SAM 2 trained by samkit itself (SAM 1's heads
  transplanted, the encoder distilled from SAM 1's, then SAM 2's clip training); what
  `load_model("sam2")` and `samkit track` without a checkpoint give.
Both are stored in float16 inside the package and cast to float32 on load.
"""

from __future__ import annotations

from pathlib import Path

from samkit.errors import CheckpointError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "samkit_default.safetensors"
DEFAULT_SAM2_WEIGHTS = WEIGHTS_DIR / "samkit_sam2_default.safetensors"
# Names that mean "the built-in SAM 2 model" to load_model, the CLI's --model and `samkit eval`.
BUILTIN_SAM2_NAMES = ("sam2", "builtin_sam2", "builtin-sam2")


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


def load_default_sam2_model():
    """Load the samkit-trained built-in SAM 2 model shipped inside the package (eval mode, float32)."""
    from samkit.build import load_checkpoint

    if not DEFAULT_SAM2_WEIGHTS.is_file():
        raise CheckpointError(
            f"the built-in SAM 2 model file {DEFAULT_SAM2_WEIGHTS} is missing from this samkit install; "
            "reinstall samkit, or pass --checkpoint PATH with an official SAM 2 checkpoint "
            "(`samkit download sam2.1_hiera_t`)"
        )
    return load_checkpoint(DEFAULT_SAM2_WEIGHTS).eval()
