"""What every dataset yields, and how malformed annotations are reported.

An `InstanceSample` is one image with its instance masks in the original image frame. Datasets
never crash on a bad annotation: they skip it and record a `DataIssue` naming the file and the id,
so a user can fix the source instead of guessing which of 100k annotations broke a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("samkit.data")


@dataclass
class InstanceSample:
    """One image and its instances.

    image_rgb: H x W x 3 uint8, RGB, original image frame.
    masks: N x H x W bool, one binary mask per instance, same frame as the image.
    key: a stable name of the image (its file path), used for splits, caches and error messages.
    instance_ids: N ids (annotation ids, segment ids or label values) in the order of `masks`.
    """

    image_rgb: np.ndarray
    masks: np.ndarray
    key: str
    instance_ids: tuple = ()

    def __post_init__(self) -> None:
        if self.image_rgb.ndim != 3 or self.image_rgb.shape[2] != 3:
            raise ValueError(f"{self.key}: image must be H x W x 3, got {self.image_rgb.shape}")
        if self.masks.ndim != 3 or self.masks.shape[1:] != self.image_rgb.shape[:2]:
            raise ValueError(
                f"{self.key}: masks must be N x {self.image_rgb.shape[0]} x {self.image_rgb.shape[1]}, "
                f"got {self.masks.shape}"
            )


@dataclass(frozen=True)
class DataIssue:
    """A skipped annotation or image: which file, which id, and what was wrong with it."""

    file: str
    item_id: object
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: id {self.item_id}: {self.reason}"


@dataclass
class IssueLog:
    """Collects DataIssues of one dataset; logs the first few and a count, never raises."""

    name: str
    issues: list[DataIssue] = field(default_factory=list)
    max_logged: int = 20

    def report(self, file: str, item_id: object, reason: str) -> None:
        issue = DataIssue(str(file), item_id, reason)
        self.issues.append(issue)
        if len(self.issues) <= self.max_logged:
            log.warning("%s: skipped %s", self.name, issue)
        elif len(self.issues) == self.max_logged + 1:
            log.warning("%s: more malformed annotations; see dataset.issues for all of them", self.name)

    def __len__(self) -> int:
        return len(self.issues)
