"""The train/validation split rule, shared by training (`RecordDataset.split`) and `samkit eval --split`.

A record is held out iff a stable hash of (seed, group) falls below val_fraction. The group is what
must never straddle the split: a DAVIS sequence (its frames are near-duplicates), or else the
image's file name, so that the same COCO photo in the instances and the panoptic source lands on the
same side. hashlib, not Python's hash(): that one is salted per process.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from samkit.errors import InputError

log = logging.getLogger("samkit.data")

SIDES = ("all", "train", "val")


def check_val_fraction(val_fraction: float) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")


def held_out(group: str, val_fraction: float, seed: int = 0) -> bool:
    """True when `group` belongs to the validation side for this fraction and seed.

    The hash of f"{seed}:{group}" is read as a uniform number in [0, 1); lowering val_fraction only
    moves groups from val to train, never the other way.
    """
    check_val_fraction(val_fraction)
    digest = hashlib.sha256(f"{int(seed)}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction


def val_flags(groups: list[str], val_fraction: float, seed: int = 0, name: str = "dataset") -> list[bool]:
    """held_out for each of a source's N groups (N bools). When every item would be held out (a
    source of one or two groups), none is: the source stays whole in train, with a warning."""
    check_val_fraction(val_fraction)
    flags = [held_out(g, val_fraction, seed) for g in groups]
    if flags and all(flags):
        log.warning("%s: all %d items hash into validation (val_fraction %s, seed %s); keeping them all "
                    "in train instead", name, len(flags), val_fraction, seed)
        return [False] * len(flags)
    return flags


def keep_side(groups: list[str], side: str, val_fraction: float, seed: int = 0, name: str = "dataset") -> list[bool]:
    """Which of N items to keep for side "all", "train" or "val" under the training split rule."""
    if side not in SIDES:
        raise InputError(f"split side must be one of {SIDES}, got {side!r}")
    if side == "all":
        return [True] * len(groups)
    flags = val_flags(groups, val_fraction, seed, name)
    return flags if side == "val" else [not f for f in flags]


def record_group(record: dict) -> str:
    """record["group"] when the dataset sets one (DAVIS: the sequence), else the image's file name."""
    group = record.get("group")
    return str(group) if group is not None else Path(record["key"]).name
