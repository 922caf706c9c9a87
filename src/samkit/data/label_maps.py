"""Instance label maps (PNG/TIFF, 0 = background, k = k-th instance) and one-PNG-per-object folders.

Label maps keep their integer depth (8, 16 or 32 bit). A map with only the values {0, v} is a
binary foreground map (e.g. ISBI EM cell interiors = 255): its instances are its connected
components, since a single blob label would merge every cell into one target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samkit.data.base import RecordDataset
from samkit.data.records import InstanceSample
from samkit.errors import InputError
from samkit.image_io import read_label_image
from samkit.json_files import read_json

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def read_label_map(path: str | Path) -> np.ndarray:
    """H x W integer label map, bit depth kept. RGB(A) maps are read as R + 256 G + 65536 B."""
    arr = read_label_image(path, "label map")
    if arr.ndim == 3 and arr.shape[2] in (1, 2):  # gray (+ alpha): the gray value is the label
        arr = arr[..., 0]
    elif arr.ndim == 3:
        arr = arr[..., :3].astype(np.int64)
        arr = arr[..., 0] + 256 * arr[..., 1] + 65536 * arr[..., 2]
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
        raise InputError(f"{path}: label map must be a 2-D integer image, got {arr.dtype} {arr.shape}")
    return arr.astype(np.int64)


def label_map_to_masks(labels: np.ndarray, min_area_px: int = 1) -> tuple[np.ndarray, tuple]:
    """H x W labels -> (N x H x W bool, N ids). Binary maps are split into connected components."""
    from scipy import ndimage

    values = np.unique(labels)
    values = values[values != 0]
    if len(values) == 1:
        labels, n = ndimage.label(labels == values[0])
        values = np.arange(1, n + 1)
    masks = [labels == v for v in values]
    keep = [i for i, m in enumerate(masks) if m.sum() >= min_area_px]
    stack = np.stack([masks[i] for i in keep]) if keep else np.zeros((0, *labels.shape), bool)
    return stack, tuple(int(values[i]) for i in keep)


def _files_by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


class LabelMapFolder(RecordDataset):
    """Images and label maps paired by file stem (images/0.png <-> labels/0.png or .tif).

    images / labels may also both be single files (one image, one label map). Images without a
    label map are reported and skipped.
    """

    def __init__(self, images: str | Path, labels: str | Path, min_area_px: int = 1, name: str | None = None):
        images, labels = Path(images), Path(labels)
        super().__init__(name or f"label_maps:{images.parent.name or images.name}")
        self.min_area_px = min_area_px
        if images.is_file() and labels.is_file():
            pairs = [(images, labels)]
        elif images.is_dir() and labels.is_dir():
            label_files = _files_by_stem(labels)
            pairs = []
            for stem, img in _files_by_stem(images).items():
                if stem not in label_files:
                    self.issue_log.report(img, stem, f"no label map with stem {stem!r} in {labels}")
                    continue
                pairs.append((img, label_files[stem]))
        else:
            raise InputError(f"label-map dataset needs two folders or two files, got {images} and {labels}")
        self.records = [{"key": str(i), "labels": str(l)} for i, l in pairs]

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        labels = read_label_map(record["labels"])
        if labels.shape != image.shape[:2]:
            raise InputError(f"{record['labels']}: label map {labels.shape} differs from its image {image.shape[:2]}")
        masks, ids = label_map_to_masks(labels, self.min_area_px)
        return InstanceSample(image, masks, record["key"], ids)


class ObjectMaskFolder(RecordDataset):
    """One binary PNG per object.

    Either the DSB-2018 layout, root/<id>/images/<image>.png + root/<id>/masks/*.png, or a JSON
    file mapping image paths to lists of mask paths (SAM-Med2D's image2label_train.json), paths
    relative to the JSON's folder or to `path_root`.
    """

    def __init__(self, root: str | Path, path_root: str | Path | None = None, name: str | None = None):
        root = Path(root)
        super().__init__(name or f"object_masks:{root.name}")
        if root.is_file() and root.suffix == ".json":
            base = Path(path_root) if path_root else root.parent
            mapping = read_json(root, "an image -> mask files mapping")
            if not isinstance(mapping, dict):
                raise InputError(f"{root}: expected a JSON object mapping image paths to lists of mask paths")
            for img, mask_list in sorted(mapping.items()):
                if not isinstance(mask_list, list) or not all(isinstance(m, str) and m for m in mask_list):
                    self.issue_log.report(root, img, "the value must be a list of mask file paths")
                    continue
                img_path = self._resolve(base, img)
                masks = [self._resolve(base, m) for m in mask_list]
                missing = [str(m) for m in masks if not m.is_file()]
                if not img_path.is_file() or missing or not masks:
                    self.issue_log.report(root, img, f"missing image or masks: {([str(img_path)] if not img_path.is_file() else []) + missing}")
                    continue
                self.records.append({"key": str(img_path), "masks": [str(m) for m in masks]})
        elif root.is_dir():
            for sample_dir in sorted(p for p in root.iterdir() if p.is_dir()):
                imgs = sorted((sample_dir / "images").glob("*.png")) if (sample_dir / "images").is_dir() else []
                masks = sorted((sample_dir / "masks").glob("*.png")) if (sample_dir / "masks").is_dir() else []
                if len(imgs) != 1 or not masks:
                    self.issue_log.report(sample_dir, sample_dir.name, "needs exactly one images/*.png and at least one masks/*.png")
                    continue
                self.records.append({"key": str(imgs[0]), "masks": [str(m) for m in masks]})
        else:
            raise InputError(f"object-mask dataset {root} is neither a folder nor a .json mapping")

    @staticmethod
    def _resolve(base: Path, rel: str) -> Path:
        """SAM-Med2D JSONs name paths under a top folder ('data_demo/...') that may be the base itself."""
        p = base / rel.replace("\x00", "")
        if not p.exists() and len(Path(rel).parts) > 1:
            p = base / Path(*Path(rel).parts[1:])
        return p

    def load(self, record: dict) -> InstanceSample:
        from samkit.image_io import load_image

        image = load_image(record["key"])
        masks, ids = [], []
        for path in record["masks"]:
            m = read_label_map(path) > 0
            if m.shape != image.shape[:2]:
                self.issue_log.report(path, Path(path).stem, f"mask {m.shape} differs from its image {image.shape[:2]}")
                continue
            if m.any():
                masks.append(m)
                ids.append(Path(path).stem)
        stack = np.stack(masks) if masks else np.zeros((0, *image.shape[:2]), bool)
        return InstanceSample(image, stack, record["key"], tuple(ids))
