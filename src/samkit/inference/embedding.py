"""Image embeddings as values: save/load them, and a disk cache keyed by image content + model.

A user should encode an image once, ever: `EmbeddingCache` stores each embedding under
sha256(pixels) for a model fingerprint (config + weights + encoder dtype), so reopening the same
photo with the same model costs a file read instead of a forward pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from samkit.errors import InputError


@dataclass
class ImageEmbedding:
    """The encoder output for one image and the frames needed to decode prompts against it.

    features: 1 x C x h x w float32. original_size: (H, W) of the user's image.
    input_size: (h_in, w_in) of the resized image before padding. model_key: fingerprint of the model.
    """

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    model_key: str = ""

    def save(self, path: str | os.PathLike) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"original_size": json.dumps(list(self.original_size)), "input_size": json.dumps(list(self.input_size)),
                "model_key": self.model_key, "format": "samkit.embedding.v1"}
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        save_file({"features": self.features.detach().cpu().contiguous()}, str(tmp), metadata=meta)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
        return path

    @staticmethod
    def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> "ImageEmbedding":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device=str(device)) as f:
                meta = f.metadata() or {}
                features = f.get_tensor("features")
        except Exception as e:
            raise InputError(f"{path}: not a samkit embedding file ({type(e).__name__}: {e})") from None
        if meta.get("format") != "samkit.embedding.v1":
            raise InputError(f"{path}: not a samkit embedding file (format {meta.get('format')!r})")
        return ImageEmbedding(features, tuple(json.loads(meta["original_size"])),
                              tuple(json.loads(meta["input_size"])), meta.get("model_key", ""))


def image_key(image: np.ndarray) -> str:
    """sha256 of an H x W x 3 uint8 image's pixels and shape (not of the file: re-saved JPEGs differ)."""
    h = hashlib.sha256()
    h.update(repr((image.shape, str(image.dtype))).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def model_key(model: torch.nn.Module) -> str:
    """Fingerprint of what determines an embedding: config, encoder weights, encoder dtype.

    Hashing ~90 M parameters takes a fraction of a second, so the result is memoised on the model and
    recomputed only when a parameter was modified in place (tracked by tensor version counters).
    """
    params = list(model.image_encoder.state_dict().values())
    version = (sum(p._version for p in params), str(getattr(model, "encoder_dtype", torch.float32)))
    cached = getattr(model, "_samkit_model_key", None)
    if cached is not None and cached[0] == version:
        return cached[1]
    h = hashlib.blake2b(digest_size=16)
    cfg = getattr(model, "config", None)
    h.update((cfg.to_json() if cfg is not None else type(model.image_encoder).__name__).encode())
    h.update(version[1].encode())
    for p in params:
        h.update(p.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data if p.numel() else b"")
    key = h.hexdigest()
    model._samkit_model_key = (version, key)
    return key


class EmbeddingCache:
    """Directory of embeddings: DIR/<model_key>/<image_key>.safetensors."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def path(self, img_key: str, mdl_key: str) -> Path:
        return self.directory / mdl_key / f"{img_key}.safetensors"

    def get(self, img_key: str, mdl_key: str, device: str | torch.device = "cpu") -> ImageEmbedding | None:
        p = self.path(img_key, mdl_key)
        if not p.is_file():
            return None
        try:
            return ImageEmbedding.load(p, device)
        except InputError:
            return None  # a damaged cache entry is recomputed, never trusted

    def put(self, img_key: str, embedding: ImageEmbedding) -> Path:
        return embedding.save(self.path(img_key, embedding.model_key))
