"""Image embeddings for the page: computed once per image content and model, cached on disk.

One worker thread runs the image encoder (one image at a time: the CPU is the bottleneck and two
encodings at once would only both be slower). Each image's job moves through an honest state
machine, queued -> encoding -> ready | error, and while encoding its progress is the fraction of the
encoder's blocks that have run (forward hooks), so the page's progress bar moves for real.

Both model families are served: SAM 1 caches its image embedding (inference/embedding.py), SAM 2
all three feature maps its decoder reads (inference/sam2_embedding.py; progress over the Hiera
trunk's blocks). `embedding(pixel_key)` returns whichever the family's predictor takes back with
`set_embedding`, which is what server-side decoding (serve/server_decoder.py) runs on.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from samkit.inference.embedding import EmbeddingCache, image_key, model_key
from samkit.inference.model_family import image_predictor, is_sam2_model


@dataclass
class EncodingStatus:
    state: str  # idle (never requested, not cached) | queued | encoding | ready | error
    progress: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict:
        return {"state": self.state, "progress": round(self.progress, 4), "error": self.error}


def _progress_modules(encoder: nn.Module) -> list[nn.Module]:
    """The encoder's sequential stages: ViT blocks (+ neck), TinyViT layers, Hiera blocks (SAM 2's
    ImageEncoder: trunk.blocks + neck), else its children."""
    trunk = getattr(encoder, "trunk", None)
    if isinstance(getattr(trunk, "blocks", None), nn.ModuleList) and len(trunk.blocks):
        extra = [encoder.neck] if isinstance(getattr(encoder, "neck", None), nn.Module) else []
        return list(trunk.blocks) + extra
    for name in ("blocks", "layers"):
        stages = getattr(encoder, name, None)
        if isinstance(stages, nn.ModuleList) and len(stages):
            extra = [encoder.neck] if isinstance(getattr(encoder, "neck", None), nn.Module) else []
            return list(stages) + extra
    return list(encoder.children())


class EmbeddingService:
    """Encode images in a background thread; `load_pixels(image_id)` returns H x W x 3 uint8 RGB."""

    def __init__(self, model: nn.Module, cache_dir, load_pixels: Callable[[int], tuple[np.ndarray, str | None]],
                 on_pixel_key: Callable[[int, str], None] | None = None) -> None:
        self.model = model
        self.is_sam2 = is_sam2_model(model)
        if self.is_sam2:
            from samkit.inference.sam2_embedding import Sam2EmbeddingCache, sam2_model_key

            self.cache = Sam2EmbeddingCache(cache_dir)
            self.model_key = sam2_model_key(model)
        else:
            self.cache = EmbeddingCache(cache_dir)
            self.model_key = model_key(model)
        self.predictor = image_predictor(model, cache_dir=cache_dir)
        self._load_pixels = load_pixels
        self._on_pixel_key = on_pixel_key
        self._jobs: dict[int, EncodingStatus] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="samkit-encoder", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    # ------------------------------------------------------------------ queries
    def is_cached(self, pixel_key: str | None) -> bool:
        return bool(pixel_key) and self.cache.path(pixel_key, self.model_key).is_file()

    def status(self, image_id: int, pixel_key: str | None) -> EncodingStatus:
        with self._lock:
            job = self._jobs.get(image_id)
        if job is not None and job.state in ("queued", "encoding", "error"):
            return EncodingStatus(job.state, job.progress, job.error)
        if self.is_cached(pixel_key):
            return EncodingStatus("ready", 1.0)
        return EncodingStatus("idle")

    def request(self, image_id: int, pixel_key: str | None) -> EncodingStatus:
        """Start encoding unless it is cached, queued or running; an errored job is retried."""
        current = self.status(image_id, pixel_key)
        if current.state in ("ready", "queued", "encoding"):
            return current
        with self._lock:
            self._jobs[image_id] = EncodingStatus("queued")
        self.start()
        self._queue.put(image_id)
        return EncodingStatus("queued")

    def embedding_f16(self, pixel_key: str | None) -> tuple[bytes, tuple[int, ...]] | None:
        """Little-endian float16 bytes of the cached 1 x C x h x w embedding and its shape, or None."""
        if not pixel_key:
            return None
        emb = self.embedding(pixel_key)
        if emb is None:
            return None
        features = emb.image_embed if self.is_sam2 else emb.features
        array = features.detach().to(torch.float32).cpu().numpy().astype("<f2")
        return array.tobytes(), tuple(array.shape)

    def sam2_features_f16(self, pixel_key: str | None) -> tuple[bytes, list[tuple[int, ...]]] | None:
        """SAM 2 only: little-endian float16 bytes of image_embed (1 x C x h x w), then high_res_feats[0]
        (1 x C/8 x 4h x 4w) and [1] (1 x C/4 x 2h x 2w), concatenated, and their shapes; None if not cached
        (or not SAM 2, or a model without high-res features). What the page's SAM 2 decoder runs on."""
        if not pixel_key or not self.is_sam2:
            return None
        emb = self.embedding(pixel_key)
        if emb is None or len(emb.high_res_feats) != 2:
            return None
        parts = [t.detach().to(torch.float32).cpu().numpy().astype("<f2") for t in (emb.image_embed, *emb.high_res_feats)]
        return b"".join(p.tobytes() for p in parts), [tuple(p.shape) for p in parts]

    def embedding(self, pixel_key: str | None, device: str | torch.device = "cpu"):
        """The cached features of an image (ImageEmbedding, or Sam2Embedding for SAM 2), or None."""
        if not pixel_key:
            return None
        return self.cache.get(pixel_key, self.model_key, device)

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            image_id = self._queue.get()
            if image_id is None:
                return
            try:
                self._encode(image_id)
            except Exception as e:  # reported to the page, the worker keeps serving
                with self._lock:
                    self._jobs[image_id] = EncodingStatus("error", 0.0, f"{type(e).__name__}: {e}")

    def _encode(self, image_id: int) -> None:
        with self._lock:
            job = self._jobs[image_id] = EncodingStatus("encoding", 0.0)
        pixels, known_key = self._load_pixels(image_id)
        key = known_key or image_key(pixels)
        if self._on_pixel_key is not None and key != known_key:
            self._on_pixel_key(image_id, key)
        if not self.is_cached(key):
            stages = _progress_modules(self.model.image_encoder)
            done = [0]

            def hook(*_):
                done[0] += 1
                job.progress = min(0.99, done[0] / len(stages))

            handles = [m.register_forward_hook(hook) for m in stages]
            try:
                self.predictor.set_image(pixels)  # writes the cache entry (atomically) itself
            finally:
                for h in handles:
                    h.remove()
        with self._lock:
            self._jobs.pop(image_id, None)  # from now on the cache answers "ready"
