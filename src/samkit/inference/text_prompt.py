"""Text prompts at inference: a phrase -> one sparse prompt token, appended to the point/box tokens.

The model's optional text path (`model.text_encoder`, see samkit.builder_text) tokenises the text
(an unknown word or empty text is an InputError naming it) and embeds it; SamPredictor.segment /
predict take `text=` and combine it with clicks and a box.
"""

from __future__ import annotations

import torch

from samkit.builder_text import require_text_encoder
from samkit.errors import InputError
from samkit.modeling.text_encoder import append_text_token


@torch.inference_mode()
def encode_text_prompt(model, text: str) -> torch.Tensor:
    """text -> 1 x 1 x C prompt token on the model's device (InputError: no text path, unknown word, empty)."""
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    return require_text_encoder(model).encode_text(text).to(model.device)


def with_text_token(sparse: torch.Tensor, text_token: torch.Tensor | None) -> torch.Tensor:
    """sparse B x T x C -> B x (T+1) x C with the text token last (unchanged without text)."""
    return sparse if text_token is None else append_text_token(sparse, text_token)
