"""SAM 2 image features as values: save/load them, and a disk cache keyed by image content + model.

SAM 2's decoder reads three feature maps, not one: the image embedding (stride 16) and two high-res
maps (strides 4 and 8, already projected by the decoder's conv_s0/conv_s1). All three are stored.
The cache layout and the image key are SAM 1's (inference/embedding.py); the model key differs
because more of the model shapes the stored features (the decoder's projections, no_mem_embed).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from samkit.errors import InputError
from samkit.inference.embedding import image_key  # noqa: F401  (re-exported: the same content key)

FORMAT = "samkit.sam2_embedding.v1"


@dataclass
class Sam2Embedding:
    """Features of one image. image_embed: 1 x C x h x w; high_res_feats: [1 x C/8 x 4h x 4w,
    1 x C/4 x 2h x 2w] (empty for models without high-res features); orig_hw: (H, W) of the image."""

    image_embed: torch.Tensor
    high_res_feats: list[torch.Tensor]
    orig_hw: tuple[int, int]
    model_key: str = ""

    def save(self, path: str | os.PathLike) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"image_embed": self.image_embed.detach().cpu().contiguous()}
        for i, f in enumerate(self.high_res_feats):
            tensors[f"high_res_feats.{i}"] = f.detach().cpu().contiguous()
        meta = {"orig_hw": json.dumps(list(self.orig_hw)), "model_key": self.model_key, "format": FORMAT,
                "num_high_res": str(len(self.high_res_feats))}
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
        return path

    @staticmethod
    def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> "Sam2Embedding":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device=str(device)) as f:
                meta = f.metadata() or {}
                if meta.get("format") != FORMAT:
                    raise InputError(f"{path}: not a samkit SAM 2 embedding file (format {meta.get('format')!r})")
                embed = f.get_tensor("image_embed")
                high = [f.get_tensor(f"high_res_feats.{i}") for i in range(int(meta["num_high_res"]))]
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"{path}: not a samkit SAM 2 embedding file ({type(e).__name__}: {e})") from None
        return Sam2Embedding(embed, high, tuple(json.loads(meta["orig_hw"])), meta.get("model_key", ""))


def sam2_model_key(model: torch.nn.Module) -> str:
    """Fingerprint of everything that determines the stored features: config, image encoder weights,
    the decoder's high-res projections, no_mem_embed, encoder dtype. Memoised on the model and
    recomputed only when a parameter changed in place (tensor version counters)."""
    tensors = list(model.image_encoder.state_dict().values())
    dec = model.sam_mask_decoder
    for name in ("conv_s0", "conv_s1"):
        if hasattr(dec, name):
            tensors += list(getattr(dec, name).state_dict().values())
    tensors.append(model.no_mem_embed)
    flags = (str(getattr(model, "encoder_dtype", torch.float32)), bool(model.directly_add_no_mem_embed),
             int(model.image_size))
    version = (sum(t._version for t in tensors), flags)
    cached = getattr(model, "_samkit_sam2_model_key", None)
    if cached is not None and cached[0] == version:
        return cached[1]
    h = hashlib.blake2b(digest_size=16)
    cfg = getattr(model, "config", None)
    to_json = getattr(cfg, "to_json", None)
    h.update((to_json() if callable(to_json) else repr(cfg) if cfg is not None else type(model).__name__).encode())
    h.update(repr(flags).encode())
    for t in tensors:
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data if t.numel() else b"")
    key = h.hexdigest()
    model._samkit_sam2_model_key = (version, key)
    return key


class Sam2EmbeddingCache:
    """Directory of SAM 2 features: DIR/sam2-<model_key>/<image_key>.safetensors."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def path(self, img_key: str, mdl_key: str) -> Path:
        return self.directory / f"sam2-{mdl_key}" / f"{img_key}.safetensors"

    def get(self, img_key: str, mdl_key: str, device: str | torch.device = "cpu") -> Sam2Embedding | None:
        p = self.path(img_key, mdl_key)
        if not p.is_file():
            return None
        try:
            return Sam2Embedding.load(p, device)
        except InputError:
            return None  # a damaged cache entry is recomputed, never trusted

    def put(self, img_key: str, embedding: Sam2Embedding) -> Path:
        return embedding.save(self.path(img_key, embedding.model_key))
