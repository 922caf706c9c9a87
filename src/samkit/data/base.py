"""A dataset of image records that loads each record into an `InstanceSample` on demand.

Subclasses parse their annotation files once (validating every annotation, reporting bad ones)
into `records`, a list of light-weight dicts, and implement `load(record)`. Splits and subsets are
views that share the parsed records, so a train/validation split costs nothing.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from samkit.data.records import InstanceSample, IssueLog
from samkit.data.splits import record_group, val_flags


class RecordDataset(Dataset):
    """Base class: `records[i]` is a dict with at least "key" (the image path) and optionally "group"
    (what must stay on one side of a train/val split, e.g. a video sequence; see samkit.data.splits)."""

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
        """(train, val) views by the shared hash rule (samkit.data.splits.held_out) on each record's group.

        A record's side depends only on its group (DAVIS sequence, else image file name) and the
        seed, not on the dataset or the file order: the same photo in two sources, or two frames of
        one sequence, never straddle the split. A source whose train part would be empty (few
        groups) is kept whole in train, with a warning.
        """
        flags = val_flags([record_group(r) for r in self.records], val_fraction, seed, self.name)
        train_idx = [i for i, f in enumerate(flags) if not f]
        val_idx = [i for i, f in enumerate(flags) if f]
        return self.subset(train_idx, "train"), self.subset(val_idx, "val")
