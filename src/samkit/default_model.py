"""The built-in models that samkit uses when no checkpoint is given.

- SAM 1 (docs/model-card.md): v2, a `tiny_vit_cpu` SAM trained by samkit itself (SAM's interactive
  training from scratch, fine-tuned with three more public datasets, IoU head refit, text path);
  what `load_model()` gives.
- SAM 2 (docs/model-card-sam2.md): a `sam2_cpu` SAM 2 trained by samkit itself (SAM 1 v1's heads
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


def default_weights(sam2: bool = False) -> Path:
    """The file of the built-in SAM 1 model (sam2=False) or SAM 2 model (sam2=True).

    build.load_model loads it; this module only knows where it is, so that imports run one way
    (build -> default_model, never back).
    """
    path = DEFAULT_SAM2_WEIGHTS if sam2 else DEFAULT_WEIGHTS
    if not path.is_file():
        # Only a broken install gets here (the file is package data): say how to go on.
        if sam2:
            hint = ("pass --checkpoint PATH with an official SAM 2 checkpoint "
                    "(`samkit download sam2.1_hiera_t`)")
        else:
            hint = "pass --checkpoint PATH (official weights: `samkit download vit_b`)"
        what = "built-in SAM 2 model" if sam2 else "built-in model"
        raise CheckpointError(f"the {what} file {path} is missing from this samkit install; reinstall samkit, or {hint}")
    return path
