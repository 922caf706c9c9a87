"""Masks -> a Labels layer's data, one object id per object, with undo.

Writing object k's mask on a slice replaces k's previous pixels there (a new click refines the
object, it does not add to it) and never takes pixels that belong to another object: what the user
already labelled is not overwritten silently. Every write records the pixels it changed and their
old values, so undo restores exactly what was there (a propagation is one undo step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samkit.errors import InputError


@dataclass
class LabelsEdit:
    """What one write changed on one plane: flat pixel indices and their old values."""

    slice_index: int | None
    flat_indices: np.ndarray
    old_values: np.ndarray


def _plane(labels_data: np.ndarray, slice_index: int | None) -> np.ndarray:
    """A view of the plane a write goes to (the whole array when 2D)."""
    if slice_index is None:
        if labels_data.ndim != 2:
            raise InputError(f"a 2D write needs a Y x X labels layer, got shape {labels_data.shape}")
        return labels_data
    if labels_data.ndim != 3 or not 0 <= slice_index < labels_data.shape[0]:
        raise InputError(f"cannot write slice {slice_index} of a labels layer of shape {labels_data.shape}")
    return labels_data[slice_index]


def write_object_mask(labels_data: np.ndarray, slice_index: int | None, mask: np.ndarray, obj_id: int) -> LabelsEdit:
    """Set object `obj_id` on one plane of `labels_data` (in place) to `mask` (Y x X bool).

    labels_data: Y x X or Z x Y x X integer array (the Labels layer's data). Returns the edit for undo."""
    if obj_id <= 0:
        raise InputError(f"object ids start at 1 (0 is background), got {obj_id}")
    plane = _plane(labels_data, slice_index)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != plane.shape:
        raise InputError(f"mask of shape {mask.shape} does not fit the labels plane {plane.shape}")
    new = plane.copy()
    new[plane == obj_id] = 0
    new[mask & ((plane == 0) | (plane == obj_id))] = obj_id
    changed = np.flatnonzero(new != plane)
    edit = LabelsEdit(slice_index, changed, plane.reshape(-1)[changed].copy())
    plane.reshape(-1)[changed] = new.reshape(-1)[changed]
    return edit


def write_label_image(labels_data: np.ndarray, slice_index: int | None, label_image: np.ndarray) -> LabelsEdit:
    """Replace one plane of `labels_data` with `label_image` (Y x X ints), e.g. automatic segmentation."""
    plane = _plane(labels_data, slice_index)
    if label_image.shape != plane.shape:
        raise InputError(f"label image of shape {label_image.shape} does not fit the labels plane {plane.shape}")
    changed = np.flatnonzero(label_image != plane)
    edit = LabelsEdit(slice_index, changed, plane.reshape(-1)[changed].copy())
    plane.reshape(-1)[changed] = label_image.reshape(-1)[changed]
    return edit


@dataclass
class LabelsHistory:
    """Undo steps, newest last; each step is the edits of one action (a click, a propagation)."""

    max_steps: int = 64
    steps: list[list[LabelsEdit]] = field(default_factory=list)

    def push(self, edits: list[LabelsEdit]) -> None:
        self.steps.append(edits)
        del self.steps[: max(0, len(self.steps) - self.max_steps)]

    def undo(self, labels_data: np.ndarray) -> list[int | None]:
        """Revert the newest step in place; returns the slices it touched ([] when nothing to undo)."""
        if not self.steps:
            return []
        edits = self.steps.pop()
        for edit in reversed(edits):
            _plane(labels_data, edit.slice_index).reshape(-1)[edit.flat_indices] = edit.old_values
        return [e.slice_index for e in edits]


def next_object_id(labels_data: np.ndarray) -> int:
    """One more than the largest id in the layer (1 for an empty layer)."""
    return int(np.max(labels_data, initial=0)) + 1
