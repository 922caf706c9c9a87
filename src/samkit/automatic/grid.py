"""Point grids: the prompts that "segment everything" places over an image or a crop.

A grid is an (N, 2) float64 array of (x, y) points normalised to [0, 1] x [0, 1]; multiply by a
crop's (width, height) to get pixel coordinates in that crop's frame. Points sit at cell centres,
row-major (x varies fastest), which fixes the order of the generated masks.
"""

from __future__ import annotations

import numpy as np


def build_point_grid(n_per_side: int) -> np.ndarray:
    """(n_per_side**2, 2) float64 points_xy in [0, 1], cell centres, x fastest."""
    if n_per_side < 1:
        raise ValueError(f"points per side must be >= 1, got {n_per_side}")
    offset = 1.0 / (2 * n_per_side)
    side = np.linspace(offset, 1.0 - offset, n_per_side)
    xs = np.tile(side[None, :], (n_per_side, 1))
    ys = np.tile(side[:, None], (1, n_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def build_all_layer_point_grids(n_per_side: int, n_layers: int, scale_per_layer: int) -> list[np.ndarray]:
    """One grid per crop layer 0..n_layers; layer i has int(n_per_side / scale_per_layer**i) per side."""
    return [build_point_grid(int(n_per_side / (scale_per_layer**i))) for i in range(n_layers + 1)]
