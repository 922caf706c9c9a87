"""Which models an evaluation compares: `[LABEL=]SPEC` strings turned into predictors.

SPEC is one of
- `grabcut`: the OpenCV GrabCut baseline;
- `builtin`: samkit's built-in model (the weights shipped in the package, docs/model-card.md);
- a preset name (`vit_b`, `tiny`, ...): that architecture with random weights (labelled as such);
- a checkpoint path: a samkit .safetensors checkpoint (carries its config) or an official .pth;
- `PRESET:PATH`: an official checkpoint that needs its preset named (e.g. `vit_b:sam_vit_b.pth`).
Random weights are seeded from the evaluation seed, so a run is reproducible.
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

        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r} in --model {text!r}; known: {', '.join(sorted(PRESETS))}, "
                             f"or 'grabcut', or a checkpoint path")
    default = path.stem if path is not None else f"{preset} (random weights)"
    return ModelSpec(label or default, "sam", preset, path)


def build_predictor(spec: ModelSpec, device: Optional[str] = None, dtype: Optional[str] = None, seed: int = 0):
    """An InteractivePredictor for the spec (SamPredictor for SAM models)."""
    if spec.kind == GRABCUT:
        from samkit.evaluation.grabcut import GrabCutPredictor

        return GrabCutPredictor()
    import torch

    from samkit.build import load_model
    from samkit.inference.predictor import SamPredictor

    torch.manual_seed(seed)  # random-weight presets are then the same model in every run
    model = load_model(name=spec.preset, checkpoint=None if spec.checkpoint is None else str(spec.checkpoint),
                       device=device, dtype=dtype)
    return SamPredictor(model)


def check_unique_labels(specs: list[ModelSpec]) -> None:
    seen = set()
    for s in specs:
        if s.label in seen:
            raise InputError(f"two models are labelled {s.label!r}; name them with --model LABEL=SPEC")
        seen.add(s.label)
