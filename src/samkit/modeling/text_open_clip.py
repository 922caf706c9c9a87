"""An open_clip model as the text tower of SAM's text prompts (the paper's choice: a CLIP text encoder).

`OpenClipTower` wraps a model made by `open_clip.create_model` (built in samkit.builder_text, which
does the IO), so a user's pretrained open_clip checkpoint loads unchanged and its text embeddings
go through samkit's projection. `encode_image` gives CLIP image embeddings of object crops, the
prompt SAM's paper trains with (image and text embeddings share CLIP's space).
"""

from __future__ import annotations

import torch
from torch import nn

from samkit.errors import InputError

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # CLIP's input normalisation (open_clip's default)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class OpenClipTower(nn.Module):
    """tokens B x L (open_clip's tokenizer) -> B x E text embeddings; images -> B x E image embeddings."""

    def __init__(self, clip_model: nn.Module, image_size: int, mean=OPENAI_MEAN, std=OPENAI_STD) -> None:
        super().__init__()
        self.clip = clip_model
        self.image_size = int(image_size)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_text(tokens)

    def encode_image(self, crops: torch.Tensor) -> torch.Tensor:
        """crops: B x 3 x image_size x image_size RGB in [0, 1] -> B x E image embeddings."""
        return self.clip.encode_image((crops - self.mean) / self.std)


class OpenClipTokenizer:
    """open_clip's tokenizer with samkit's input checks (empty text is an InputError)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, texts: str | list[str]) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise InputError(f"empty text prompt {t!r}: give a description such as 'a dog'")
        return self.tokenizer(texts)
