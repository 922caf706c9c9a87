"""Text prompts as one more sparse token of SAM's mask decoder (SAM paper, section 7.5 / D.5).

A CLIP-style text tower embeds the prompt into CLIP's joint space; a Linear maps the (L2-normalised)
embedding to the prompt encoder's dim, and the result is appended to the point/box tokens, so text
combines with clicks and boxes. Training can feed CLIP *image* embeddings of object crops through the
same projection (`embed_clip`), since CLIP puts images and texts in one space; inference feeds text.

Towers: `CLIPTextTower` here (CLIP's architecture: token + position embeddings, causal pre-LN
transformer, final LN, pooling at the end-of-text token, text projection), or an open_clip model's
(samkit.modeling.text_open_clip). No file IO here.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from samkit.config_text import TextPromptConfig
from samkit.modeling.text_tokenizer import EOT_ID, WordTokenizer


class ResidualAttentionBlock(nn.Module):
    """CLIP's block: x + attn(ln_1(x)), then x + mlp(ln_2(x)); GELU MLP of 4x width."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, causal_mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=causal_mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class CLIPTextTower(nn.Module):
    """tokens B x L (int64, see text_tokenizer) -> B x clip_embed_dim text embeddings (unnormalised)."""

    def __init__(self, vocab_size: int, context_length: int, width: int, layers: int, heads: int,
                 embed_dim: int) -> None:
        super().__init__()
        self.context_length = context_length
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.randn(context_length, width) * 0.01)
        self.blocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, embed_dim) * width**-0.5)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        # True above the diagonal = may not attend (a token sees itself and what precedes it).
        mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(tokens) + self.positional_embedding[: tokens.shape[1]]
        mask = self.causal_mask[: tokens.shape[1], : tokens.shape[1]]
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln_final(x)
        eot = (tokens == EOT_ID).int().argmax(dim=-1)  # the end-of-text position of each prompt
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection


class TextPromptEncoder(nn.Module):
    """A text tower + its tokenizer + a Linear from CLIP's space to SAM's prompt dim.

    tower: a module mapping tokens B x L -> B x E (CLIPTextTower, or an open_clip adapter that also
    has `encode_image`); tokenizer: callable str | list[str] -> B x L tokens, raising
    samkit.errors.InputError on text it cannot read.
    """

    def __init__(self, tower: nn.Module, tokenizer, clip_embed_dim: int, prompt_dim: int,
                 config: TextPromptConfig) -> None:
        super().__init__()
        self.tower = tower
        self.tokenizer = tokenizer
        self.proj = nn.Linear(clip_embed_dim, prompt_dim)
        # The input is a unit vector; weights of std 1 give a token of norm ~sqrt(prompt_dim), the size of
        # SAM's point/box tokens (~11 for 128-d). PyTorch's default init gave ~0.7: the decoder then
        # barely saw the text token and training stalled at ~0.1 IoU.
        nn.init.normal_(self.proj.weight, std=1.0)
        nn.init.zeros_(self.proj.bias)
        self.config = config

    def embed_clip(self, clip_embeddings: torch.Tensor) -> torch.Tensor:
        """B x E CLIP embeddings (text or image) -> B x 1 x prompt_dim sparse tokens."""
        return self.proj(F.normalize(clip_embeddings.float(), dim=-1)).unsqueeze(1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens B x L -> B x 1 x prompt_dim sparse tokens."""
        return self.embed_clip(self.tower(tokens.to(self.proj.weight.device)))

    def encode_text(self, texts: str | list[str]) -> torch.Tensor:
        """Tokenise (InputError on unknown words or empty text) and embed: B x 1 x prompt_dim."""
        return self(self.tokenizer(texts))


def build_word_text_encoder(config: TextPromptConfig) -> TextPromptEncoder:
    """samkit's own tower with the word tokenizer of config.vocabulary (random weights)."""
    tokenizer = WordTokenizer(config.vocabulary, config.context_length)
    tower = CLIPTextTower(tokenizer.vocab_size, config.context_length, config.width, config.layers,
                          config.heads, config.clip_embed_dim)
    return TextPromptEncoder(tower, tokenizer, config.clip_embed_dim, config.prompt_dim, config)


def append_text_token(sparse: torch.Tensor, text_token: torch.Tensor) -> torch.Tensor:
    """Point/box tokens B x T x C (B may be 1 with no prompts) + text B' x 1 x C -> B x (T+1) x C.

    A batch of 1 on either side is broadcast to the other's (one text for many boxes, or many texts
    on an image with no other prompt).
    """
    b = max(sparse.shape[0], text_token.shape[0])
    if sparse.shape[0] not in (1, b) or text_token.shape[0] not in (1, b):
        raise ValueError(f"prompt batch {sparse.shape[0]} and text batch {text_token.shape[0]} do not match")
    return torch.cat([sparse.expand(b, -1, -1), text_token.to(sparse.dtype).expand(b, -1, -1)], dim=1)
