"""Image embeddings kept per slice, so that every click after the first on a slice is decoder-only
and going back to a slice already seen does not run the encoder again.

Keys are (image key, slice index); the image key identifies the layer's data (napari layer id plus
the data's shape and dtype), so editing a layer's data in place is the one case it cannot see.
An LRU bounds memory (a SAM 2 embedding is ~16 MB at 1024 px, the built-in models' far less).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable

import numpy as np


class SliceEmbeddings:
    """predictor embeddings by slice. `activate` makes a slice's embedding the predictor's current one."""

    def __init__(self, predictor, max_slices: int = 32) -> None:
        self.predictor = predictor
        self.max_slices = max(1, int(max_slices))
        self._store: OrderedDict[Hashable, object] = OrderedDict()
        self._current: Hashable | None = None
        self.encoded = 0  # how many times the encoder ran (tests and the status line read it)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._store

    def activate(self, key: Hashable, plane_rgb: np.ndarray) -> bool:
        """Make `key`'s embedding current, encoding `plane_rgb` (H x W x 3 uint8) only when it was not
        cached. Returns True when the encoder ran."""
        if key == self._current and key in self._store:
            self._store.move_to_end(key)
            return False
        emb = self._store.get(key)
        if emb is not None:
            self.predictor.set_embedding(emb)
            self._store.move_to_end(key)
            self._current = key
            return False
        self.predictor.set_image(plane_rgb)
        self.encoded += 1
        self._store[key] = self.predictor.get_embedding()
        self._current = key
        while len(self._store) > self.max_slices:
            self._store.popitem(last=False)
        return True

    def clear(self) -> None:
        self._store.clear()
        self._current = None
