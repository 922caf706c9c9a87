"""Shared builders of the text-prompt tests: a tiny SAM with a random word-level text path."""

from __future__ import annotations

import torch

from samkit import build_sam
from samkit.builder_text import add_text_encoder
from samkit.config_text import TextPromptConfig
from samkit.modeling.text_encoder import build_word_text_encoder

NAMES = ("dog", "traffic light", "teddy bear", "cat")


def tiny_text_model(seed: int = 0):
    torch.manual_seed(seed)
    model = build_sam("tiny")
    cfg = TextPromptConfig(prompt_dim=model.prompt_encoder.embed_dim, vocabulary=NAMES, width=32, layers=1,
                           heads=2, clip_embed_dim=24)
    return add_text_encoder(model, build_word_text_encoder(cfg)).eval()
