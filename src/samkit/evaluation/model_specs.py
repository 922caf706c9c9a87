"""Which models an evaluation compares: `[LABEL=]SPEC` strings turned into predictors.

SPEC is one of
- `grabcut`: the OpenCV GrabCut baseline;
- `builtin`: samkit's built-in model (the weights shipped in the package, docs/model-card.md);
  `sam2` / `builtin_sam2`: samkit's built-in SAM 2 model (docs/model-card-sam2.md);
- a preset name (`vit_b`, `tiny`, ...; SAM 2: `sam2.1_hiera_t`, ...): that architecture with random
  weights (labelled as such);
- a checkpoint path: a samkit .safetensors checkpoint (carries its config) or an official .pth/.pt
  (SAM, MobileSAM, SAM 2 / 2.1);
- `PRESET:PATH`: an official checkpoint that needs its preset named (e.g. `vit_b:sam_vit_b.pth`).
Random weights are seeded from the evaluation seed, so a run is reproducible. SAM 2 models are
measured through SAM2ImagePredictor (same predict interface as SamPredictor).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from samkit.errors import InputError

GRABCUT = "grabcut"
BUILTIN = "builtin"


@dataclass(frozen=True)
class ModelSpec:
    label: str
    kind: str  # "grabcut" | "sam"
    preset: Optional[str] = None
    checkpoint: Optional[Path] = None

    @property
    def family(self) -> Optional[str]:
        """"sam1" / "sam2" for models (read from the name or the checkpoint's header), None for GrabCut."""
        if self.kind == GRABCUT:
            return None
        from samkit.inference.model_family import family_of

        return family_of(self.preset, self.checkpoint)


def parse_model_spec(text: str) -> ModelSpec:
    label, _, spec = text.rpartition("=") if "=" in text else ("", "", text)
    spec = spec.strip()
    if not spec:
        raise InputError(f"empty model spec in --model {text!r}")
    if spec.lower() == GRABCUT:
        return ModelSpec(label or "GrabCut", GRABCUT)
    if spec.lower() == BUILTIN:
        from samkit.default_model import DEFAULT_WEIGHTS

        if not DEFAULT_WEIGHTS.is_file():
            raise InputError(f"--model builtin: this samkit install has no built-in model at {DEFAULT_WEIGHTS}")
        return ModelSpec(label or "samkit built-in", "sam", None, DEFAULT_WEIGHTS)
    from samkit.default_model import BUILTIN_SAM2_NAMES, DEFAULT_SAM2_WEIGHTS

    if spec.lower() in BUILTIN_SAM2_NAMES:
        if not DEFAULT_SAM2_WEIGHTS.is_file():
            raise InputError(f"--model {spec}: this samkit install has no built-in SAM 2 model at {DEFAULT_SAM2_WEIGHTS}")
        return ModelSpec(label or "samkit built-in SAM 2", "sam", None, DEFAULT_SAM2_WEIGHTS)
    preset, path = None, None
    if ":" in spec and not Path(spec).exists():
        preset, _, path_text = spec.partition(":")
        path = Path(path_text)
    elif Path(spec).suffix in (".pth", ".pt", ".safetensors") or Path(spec).exists():
        path = Path(spec)
    else:
        preset = spec
    if path is not None and not path.is_file():
        raise InputError(f"checkpoint not found for --model {text!r}: {path}")
    if preset is not None:
        from samkit.config import PRESETS
        from samkit.config_sam2 import SAM2_PRESETS, is_sam2_name

        if preset not in PRESETS and not is_sam2_name(preset):
            raise InputError(f"unknown preset {preset!r} in --model {text!r}; known: {', '.join(sorted(PRESETS))}, "
                             f"SAM 2: {', '.join(sorted(SAM2_PRESETS))}, or 'grabcut', or a checkpoint path")
    default = path.stem if path is not None else f"{preset} (random weights)"
    return ModelSpec(label or default, "sam", preset, path)


def build_predictor(spec: ModelSpec, device: Optional[str] = None, dtype: Optional[str] = None, seed: int = 0):
    """An InteractivePredictor for the spec (SamPredictor for SAM models, SAM2ImagePredictor for SAM 2)."""
    if spec.kind == GRABCUT:
        from samkit.evaluation.grabcut import GrabCutPredictor

        return GrabCutPredictor()
    import torch

    from samkit.build import load_model
    from samkit.inference.model_family import image_predictor

    torch.manual_seed(seed)  # random-weight presets are then the same model in every run
    model = load_model(name=spec.preset, checkpoint=None if spec.checkpoint is None else str(spec.checkpoint),
                       device=device, dtype=dtype)
    return image_predictor(model)


def check_unique_labels(specs: list[ModelSpec]) -> None:
    seen = set()
    for s in specs:
        if s.label in seen:
            raise InputError(f"two models are labelled {s.label!r}; name them with --model LABEL=SPEC")
        seen.add(s.label)
