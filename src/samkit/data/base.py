"""A dataset of image records that loads each record into an `InstanceSample` on demand.

Subclasses parse their annotation files once (validating every annotation, reporting bad ones)
into `records`, a list of light-weight dicts, and implement `load(record)`. Splits and subsets are
views that share the parsed records, so a train/validation split costs nothing.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from samkit.data.records import InstanceSample, IssueLog


class RecordDataset(Dataset):
    """Base class: `records[i]` is a dict with at least "key" (a stable image name)."""

    def __init__(self, name: str, records: list[dict] | None = None, issues: IssueLog | None = None):
        self.name = name
        self.records: list[dict] = records if records is not None else []
        self.issue_log = issues if issues is not None else IssueLog(name)

    @property
    def issues(self):
        return self.issue_log.issues

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> InstanceSample:
        return self.load(self.records[index])

    def load(self, record: dict) -> InstanceSample:
        raise NotImplementedError

    def keys(self) -> list[str]:
        return [r["key"] for r in self.records]

    def subset(self, indices, suffix: str = "subset") -> "RecordDataset":
        """A view holding the records at `indices` (shares the loader and the issue log)."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.records = [self.records[i] for i in indices]
        view.name = f"{self.name}[{suffix}]"
        return view

    def split(self, val_fraction: float, seed: int = 0) -> tuple["RecordDataset", "RecordDataset"]:
        """Deterministic train/validation split by sorted image key and a seeded permutation.

        The split depends only on the set of keys and the seed, not on file order, so the same
        images are held out on every machine and across resumed runs.
        """
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        order = sorted(range(len(self.records)), key=lambda i: self.records[i]["key"])
        perm = np.random.default_rng(seed).permutation(len(order))
        n_val = int(round(val_fraction * len(order)))
        val_idx = sorted(order[p] for p in perm[:n_val])
        train_idx = sorted(order[p] for p in perm[n_val:])
        return self.subset(train_idx, "train"), self.subset(val_idx, "val")
