"""Word-level tokenizer of samkit's own text tower: a closed vocabulary of phrases (category names).

No file IO: the vocabulary travels in the checkpoint's metadata (samkit.config_text). Token ids:
0 padding, 1 start of text, 2 end of text, 3.. the words in sorted order. The end-of-text token is
where the tower pools (as CLIP pools at its EOT token).
"""

from __future__ import annotations

import re

import torch

from samkit.errors import InputError

PAD_ID, SOT_ID, EOT_ID = 0, 1, 2
FIRST_WORD_ID = 3
ARTICLES = ("a", "an", "the")  # "a dog" means "dog": dropped before lookup


def split_words(text: str) -> list[str]:
    """Lower-cased words of a phrase ("Traffic-Light" -> ["traffic", "light"])."""
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


class WordTokenizer:
    """phrases: the names the model was trained on. __call__(texts) -> B x context_length int64."""

    def __init__(self, phrases: tuple[str, ...] | list[str], context_length: int = 8) -> None:
        self.phrases = tuple(phrases)
        self.context_length = int(context_length)
        words = sorted({w for p in self.phrases for w in split_words(p)})
        self.word_ids = {w: FIRST_WORD_ID + i for i, w in enumerate(words)}
        longest = max((len(split_words(p)) for p in self.phrases), default=0)
        if longest + 2 > self.context_length:
            raise ValueError(f"context_length {self.context_length} is too short for {longest}-word phrases")

    @property
    def vocab_size(self) -> int:
        return FIRST_WORD_ID + len(self.word_ids)

    def _known_names(self) -> str:
        shown = ", ".join(repr(p) for p in self.phrases[:8])
        more = f", ... ({len(self.phrases)} names; model.text_encoder.tokenizer.phrases lists them)" \
            if len(self.phrases) > 8 else ""
        return shown + more

    def _word_id(self, word: str, text: str) -> int:
        if word in self.word_ids:
            return self.word_ids[word]
        if word.endswith("s") and word[:-1] in self.word_ids:  # "dogs" -> "dog"
            return self.word_ids[word[:-1]]
        raise InputError(f"unknown word {word!r} in text prompt {text!r}: this model only knows the names it "
                         f"was trained on, e.g. {self._known_names()}")

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise InputError(f"a text prompt must be a string, got {type(text).__name__}")
        words = split_words(text)
        while words and words[0] in ARTICLES and len(words) > 1:
            words = words[1:]
        if not words:
            raise InputError(f"empty text prompt {text!r}: give a name such as {self._known_names()}")
        if len(words) + 2 > self.context_length:
            raise InputError(f"text prompt {text!r} has {len(words)} words; this model reads at most "
                             f"{self.context_length - 2}")
        return [SOT_ID] + [self._word_id(w, text) for w in words] + [EOT_ID]

    def __call__(self, texts: str | list[str]) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = torch.full((len(texts), self.context_length), PAD_ID, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = self.encode(t)
            out[i, : len(ids)] = torch.tensor(ids)
        return out
