"""Config of the optional text-prompt path (SAM paper, section 7.5: a CLIP text embedding as a sparse token).

A checkpoint with a text path stores this JSON in its safetensors metadata under TEXT_PROMPT_KEY; a
checkpoint without it (every official one, older samkit ones) loads exactly as before. Two kinds:
- "word": samkit's own CLIP-architecture text tower with a word-level vocabulary that is stored here
  (the built-in model's: the category names it was trained on);
- "open_clip": an open_clip model's text tower (`open_clip.create_model(open_clip_name)`), with
  open_clip's own tokenizer; needs the `samkit[clip]` extra to load.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

TEXT_PROMPT_KEY = "samkit_text_prompt"  # safetensors metadata key holding TextPromptConfig JSON
TEXT_KINDS = ("word", "open_clip")


@dataclass(frozen=True)
class TextPromptConfig:
    """Everything needed to rebuild a text path. vocabulary: the phrases (category names) the word
    tokenizer knows; clip_* describe samkit's own tower (kind "word"); prompt_dim: the SAM prompt
    encoder's embed dim the projection maps to."""

    kind: str = "word"
    prompt_dim: int = 256
    vocabulary: tuple[str, ...] = ()
    context_length: int = 8
    width: int = 128
    layers: int = 2
    heads: int = 4
    clip_embed_dim: int = 128  # CLIP's joint text/image space (text_projection's output)
    open_clip_name: str = ""  # kind "open_clip": the model name given to open_clip.create_model
    training: dict = field(default_factory=dict, compare=False)  # provenance: data, steps, target

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "TextPromptConfig":
        d = json.loads(text)
        names = {f.name for f in dataclasses.fields(TextPromptConfig)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown text prompt config fields: {sorted(unknown)}")
        if d.get("kind", "word") not in TEXT_KINDS:
            raise ValueError(f"unknown text prompt kind {d.get('kind')!r}; expected one of {TEXT_KINDS}")
        d["vocabulary"] = tuple(d.get("vocabulary", ()))
        return TextPromptConfig(**d)
