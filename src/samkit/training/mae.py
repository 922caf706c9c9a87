"""Masked-autoencoder pre-training of SAM's ViT image encoder (He et al., MAE, 2021).

SAM's encoder starts from an MAE-pretrained ViT. Here a random 75% of the patch tokens is dropped,
the encoder's own blocks run on the visible 25% only, and a light transformer decoder reconstructs
the pixels of the dropped patches from the encoded tokens plus a shared mask token. The loss is
the MSE on the masked patches of per-patch normalised pixels (MAE's norm_pix_loss).

As in ViTDet (and hence SAM), pre-training uses *global* attention without relative position
biases: windows cannot be formed from a random subset of tokens. The encoder's windowing,
rel-pos tables and neck are left untouched here and are learnt during SAM training, which loads
the pretrained encoder from the checkpoint this stage saves (a complete Sam; decoders random).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from samkit.errors import InputError
from samkit.training.scratch_init import sincos_2d


@dataclass(frozen=True)
class MaeSection:
    """mask_ratio: fraction of patches hidden from the encoder; decoder_*: the light decoder
    (MAE uses 512-d x 8 for ViT-B; small presets need far less); norm_pix_loss: normalise each
    target patch by its own mean/std (MAE's better-representation variant)."""

    mask_ratio: float = 0.75
    decoder_dim: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    norm_pix_loss: bool = True
    pictures: int = 4  # held-out images drawn as original / masked / reconstruction at each validation


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """B x 3 x S x S -> B x N x (patch*patch*3), patches in row-major grid order, pixels (py, px, c)."""
    b, c, s, _ = images.shape
    g = s // patch
    x = images.reshape(b, c, g, patch, g, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, patch * patch * c)


def unpatchify(patches: torch.Tensor, patch: int) -> torch.Tensor:
    """Inverse of patchify: B x N x (patch*patch*3) -> B x 3 x S x S."""
    b, n, _ = patches.shape
    g = int(round(n ** 0.5))
    x = patches.reshape(b, g, g, patch, patch, 3)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, 3, g * patch, g * patch)


def random_keep(batch: int, num_tokens: int, mask_ratio: float, gen: torch.Generator,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep: B x K token indices the encoder sees, masked: B x N bool, True = hidden)."""
    num_keep = max(1, int(round(num_tokens * (1.0 - mask_ratio))))
    noise = torch.rand(batch, num_tokens, generator=gen, device=device)
    keep = noise.argsort(dim=1)[:, :num_keep]
    masked = torch.ones(batch, num_tokens, dtype=torch.bool, device=device)
    masked.scatter_(1, keep, False)
    return keep, masked


def _global_attention(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A ViT block's attention (its qkv/proj weights) over a token sequence B x N x D, no rel-pos."""
    b, n, d = x.shape
    q, k, v = attn.qkv(x).reshape(b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    out = F.scaled_dot_product_attention(q, k, v)
    return attn.proj(out.transpose(1, 2).reshape(b, n, d))


class MaskedAutoencoder(nn.Module):
    """forward(images, seed) -> (loss, logs). images: B x 3 x S x S, normalised, unpadded crops.

    `sam` is the model being pre-trained (its image encoder is); the MAE decoder and the
    encoder's final norm live here and are saved for resuming via `extra_state()`.
    """

    def __init__(self, sam: nn.Module, cfg: MaeSection = MaeSection()):
        super().__init__()
        enc = sam.image_encoder
        if not hasattr(enc, "blocks") or getattr(enc, "pos_embed", None) is None:
            raise InputError("MAE pre-training needs a ViT image encoder with an absolute position table "
                             f"(presets vit_b/l/h, vit_cpu, tiny); {sam.config.name} has {type(enc).__name__}")
        if not 0.0 < cfg.mask_ratio < 1.0:
            raise InputError(f"mae.mask_ratio must be in (0, 1), got {cfg.mask_ratio}")
        self.sam, self.cfg = sam, cfg
        ecfg = sam.config.encoder
        self.patch, dim = ecfg.patch_size, ecfg.embed_dim
        grid = ecfg.img_size // ecfg.patch_size
        self.encoder_norm = nn.LayerNorm(dim, eps=1e-6)
        self.decoder_embed = nn.Linear(dim, cfg.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.register_buffer("decoder_pos", sincos_2d(cfg.decoder_dim, grid, grid).reshape(1, grid * grid, -1),
                             persistent=False)
        layer = nn.TransformerEncoderLayer(cfg.decoder_dim, cfg.decoder_heads, 4 * cfg.decoder_dim, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.decoder = nn.TransformerEncoder(layer, cfg.decoder_depth, enable_nested_tensor=False)
        self.decoder_norm = nn.LayerNorm(cfg.decoder_dim)
        self.decoder_pred = nn.Linear(cfg.decoder_dim, self.patch * self.patch * 3)
        nn.init.normal_(self.mask_token, std=0.02)
        self._freeze_unused(sam)

    @staticmethod
    def _freeze_unused(sam: nn.Module) -> None:
        """Only patch embedding and blocks learn here; MAE's position table is a fixed sine-cosine."""
        sam.requires_grad_(False)
        enc = sam.image_encoder
        enc.patch_embed.requires_grad_(True)
        for block in enc.blocks:
            block.requires_grad_(True)
            for name in ("rel_pos_h", "rel_pos_w"):
                if hasattr(block.attn, name):
                    getattr(block.attn, name).requires_grad_(False)

    def extra_state(self) -> dict:
        """The weights outside the Sam (decoder, final norm), for exact resuming."""
        return {"mae_head": {k: v for k, v in self.state_dict().items() if not k.startswith("sam.")}}

    def load_extra_state(self, extra: dict) -> None:
        missing, unexpected = self.load_state_dict(extra["mae_head"], strict=False)
        if unexpected or any(not k.startswith("sam.") for k in missing):
            raise InputError(f"MAE resume state does not match this decoder: missing {missing}, unexpected {unexpected}")

    def encode_visible(self, images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """B x 3 x S x S, keep B x K -> B x K x D encoded visible tokens."""
        enc = self.sam.image_encoder
        x = (enc.patch_embed(images) + enc.pos_embed).flatten(1, 2)  # B x N x D
        x = torch.gather(x, 1, keep[..., None].expand(-1, -1, x.shape[-1]))
        for block in enc.blocks:
            x = x + _global_attention(block.attn, block.norm1(x))
            x = x + block.mlp(block.norm2(x))
        return self.encoder_norm(x)

    def decode(self, latent: torch.Tensor, keep: torch.Tensor, num_tokens: int) -> torch.Tensor:
        """B x K x D latents -> B x N x (patch*patch*3) predicted (normalised) pixels of every patch."""
        b, k, _ = latent.shape
        x = self.mask_token.expand(b, num_tokens, -1).clone()
        x = x.scatter(1, keep[..., None].expand(-1, -1, x.shape[-1]), self.decoder_embed(latent))
        x = self.decoder(x + self.decoder_pos)
        return self.decoder_pred(self.decoder_norm(x))

    def targets(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(target B x N x P, patch mean B x N x 1, patch std B x N x 1); normalised if norm_pix_loss."""
        target = patchify(images, self.patch)
        if not self.cfg.norm_pix_loss:
            return target, torch.zeros_like(target[..., :1]), torch.ones_like(target[..., :1])
        mean = target.mean(dim=-1, keepdim=True)
        std = (target.var(dim=-1, keepdim=True) + 1e-6).sqrt()
        return (target - mean) / std, mean, std

    def _masked_prediction(self, images: torch.Tensor, seed: int):
        """One MAE pass: (pred B x N x P float, target B x N x P, patch mean, patch std, masked B x N)."""
        b, _, s, _ = images.shape
        if s != self.sam.config.img_size or images.shape[-2] != s:
            raise InputError(f"MAE images must be {self.sam.config.img_size} px squares, got {tuple(images.shape)}")
        gen = torch.Generator(device=images.device).manual_seed(int(seed))
        n = (s // self.patch) ** 2
        keep, masked = random_keep(b, n, self.cfg.mask_ratio, gen, images.device)
        pred = self.decode(self.encode_visible(images, keep), keep, n).float()
        target, mean, std = self.targets(images)
        return pred, target, mean, std, masked

    def forward(self, images: torch.Tensor, seed: int):
        pred, target, _, _, masked = self._masked_prediction(images, seed)
        per_patch = ((pred - target) ** 2).mean(dim=-1)  # B x N
        loss = (per_patch * masked).sum() / masked.sum()
        visible_mse = (per_patch.detach() * ~masked).sum() / (~masked).sum()  # a diagnostic: not trained on
        return loss, {"loss": float(loss.detach()), "visible_mse": float(visible_mse)}

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        """For pictures: (reconstruction B x 3 x S x S in the input's normalised pixel space, with the
        visible patches pasted back, masked B x N bool, masked-patch loss as in forward)."""
        pred, target, mean, std, masked = self._masked_prediction(images, seed)
        loss = float((((pred - target) ** 2).mean(-1) * masked).sum() / masked.sum())
        pixels = torch.where(masked[..., None], pred * std + mean, patchify(images, self.patch))
        return unpatchify(pixels, self.patch), masked, loss
