"""LabPics (v1) folders: photos of chemistry-lab vessels with instance maps of vessels and materials.

Layout: <root>/{Simple,Complex}/{Train,Test}/Image/<name>.jpg with the instance map
<same folder>/Instance/<name>.png. The instance map is an RGB PNG whose red channel holds vessel
instance ids and whose blue channel holds material instance ids (0 = none). This is the layout the
well-known "fine-tune SAM 2 in 60 lines" tutorial reads; it loads BGR with OpenCV, so its
ann[:, :, 0] (material) and ann[:, :, 2] (vessel) are our blue and red channels.

Every vessel and every material instance is one mask. A vessel id and a material id may be equal
(vessel 1 holds material 1): they stay two instances, since they are different objects (the liquid
is inside the glass, not the glass). The Train / Test folders are the official split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.label_maps import IMAGE_SUFFIXES
from samkit.data.records import InstanceSample
from samkit.errors import InputError
from samkit.image_io import read_label_image

KINDS = ("vessel", "material")
CHANNEL_OF_KIND = {"vessel": 0, "material": 2}  # RGB channel holding that kind's instance ids
SUBSETS = ("Simple", "Complex")
SPLITS = {"train": "Train", "test": "Test"}


def _is_split_folder(folder: Path) -> bool:
    return (folder / "Image").is_dir() and (folder / "Instance").is_dir()


def _split_name(folder: Path) -> str:
    """"train" / "test" for a Train / Test folder (any case), "" for another name."""
    return next((k for k, v in SPLITS.items() if folder.name.lower() == v.lower()), "")


def labpics_split_folders(root: str | Path) -> list[tuple[Path, str]]:
    """[(folder holding Image/ + Instance/, "train" | "test" | "")] under `root`, which may be the
    dataset root (with Simple/ and/or Complex/), a Simple|Complex folder or a Train|Test folder."""
    root = Path(root)
    if _is_split_folder(root):
        return [(root, _split_name(root))]

    def split_folders(base: Path) -> list[tuple[Path, str]]:
        subdirs = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        return [(p, _split_name(p)) for p in subdirs if _split_name(p) and _is_split_folder(p)]

    found = split_folders(root)  # a Simple or Complex folder
    for subset in sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in {s.lower() for s in SUBSETS}):
        found += split_folders(subset)  # the dataset root
    return found


def is_labpics_root(root: str | Path) -> bool:
    return Path(root).is_dir() and bool(labpics_split_folders(root))


def parse_kinds(kinds: str | tuple | list | None) -> tuple[str, ...]:
    """"vessel", "material", "vessel,material" or "" (both) -> a tuple of KINDS."""
    if not kinds:
        return KINDS
    items = [k.strip().lower() for k in (kinds.split(",") if isinstance(kinds, str) else kinds)]
    items = [k[:-1] if k.endswith("s") else k for k in items if k]  # "vessels" reads as "vessel"
    bad = sorted(set(items) - set(KINDS))
    if bad or not items:
        raise InputError(f"LabPics instance kinds must be among {KINDS}, got {kinds!r}")
    return tuple(k for k in KINDS if k in items)


def read_labpics_instances(path: str | Path, kinds: tuple[str, ...] = KINDS) -> tuple[np.ndarray, tuple]:
    """(N x H x W bool, N ids such as "vessel:3" / "material:1") from one instance map, vessels first."""
    arr = read_label_image(path, "LabPics instance map")
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise InputError(f"{path}: a LabPics instance map must be an RGB image (red = vessel ids, blue = "
                         f"material ids), got shape {arr.shape}")
    masks, ids = [], []
    for kind in kinds:
        channel = arr[..., CHANNEL_OF_KIND[kind]]
        for value in np.unique(channel):
            if value != 0:
                masks.append(channel == value)
                ids.append(f"{kind}:{int(value)}")
    stack = np.stack(masks) if masks else np.zeros((0, *arr.shape[:2]), bool)
    return stack, tuple(ids)


class LabPicsFolder(RecordDataset):
    """LabPics images with their vessel and material instances (see the module docstring).

    split: "train" or "test" reads only the Train or Test folders, "" both. kinds: which instance
    kinds to keep (default both). records: {"key": image, "labels": instance PNG, "split": "train" |
    "test" | ""}. An image without an instance map is reported (dataset.issues) and skipped.
    """

    def __init__(self, root: str | Path, split: str = "", kinds: str | tuple = KINDS, name: str | None = None):
        root = Path(root)
        super().__init__(name or f"labpics:{root.name}")
        if split not in ("", *SPLITS):
            raise InputError(f"LabPics split must be 'train', 'test' or empty (both), got {split!r}")
        self.kinds = parse_kinds(kinds)
        folders = labpics_split_folders(root)
        if not folders:
            raise InputError(f"{root} is not a LabPics folder: expected Image/ + Instance/ in it, in its "
                             "Train/ and Test/ folders, or in Simple|Complex/Train|Test/")
        if split:
            folders = [(f, s) for f, s in folders if s == split]
            if not folders:
                raise InputError(f"{root} has no LabPics {SPLITS[split]}/ folder (split {split!r} asked for)")
        for folder, side in folders:
            for img in sorted(p for p in (folder / "Image").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                inst = folder / "Instance" / (img.stem + ".png")
                if not inst.is_file():
                    self.issue_log.report(img, img.stem, f"no instance map {inst}")
                    continue
                self.records.append({"key": str(img), "labels": str(inst), "split": side})

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        masks, ids = read_labpics_instances(record["labels"], self.kinds)
        if masks.shape[1:] != image.shape[:2]:
            raise InputError(f"{record['labels']}: instance map {masks.shape[1:]} differs from its image "
                             f"{image.shape[:2]}")
        return InstanceSample(image, masks, record["key"], ids)
