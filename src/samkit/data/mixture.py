"""Several datasets mixed with weights into one indexable dataset.

Index i of the mixture maps deterministically (from the seed and i) to a dataset chosen with
probability proportional to its weight and a uniformly chosen item of it, so the mixture has no
hidden state: resuming, splitting across ranks and re-running all see the same items.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset


class WeightedMixture(Dataset):
    """datasets: indexable datasets; weights: non-negative, not all zero; length: virtual epoch
    size (default: the total number of items)."""

    def __init__(self, datasets: list, weights: list[float] | None = None, length: int | None = None, seed: int = 0):
        if not datasets:
            raise ValueError("a mixture needs at least one dataset")
        weights = [1.0] * len(datasets) if weights is None else [float(w) for w in weights]
        if len(weights) != len(datasets) or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"need one non-negative weight per dataset with a positive sum, got {weights}")
        empty = [getattr(d, "name", i) for i, d in enumerate(datasets) if len(d) == 0]
        if empty:
            raise ValueError(f"datasets without usable images: {empty}")
        self.datasets = datasets
        self.probs = np.asarray(weights) / sum(weights)
        self.length = int(length) if length else sum(len(d) for d in datasets)
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def locate(self, index: int) -> tuple[int, int]:
        """Mixture index -> (dataset number, item index in that dataset)."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        d = int(rng.choice(len(self.datasets), p=self.probs))
        return d, int(rng.integers(len(self.datasets[d])))

    def __getitem__(self, index: int):
        d, j = self.locate(index)
        return self.datasets[d][j]
