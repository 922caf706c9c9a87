"""Pack the training side of a training config into one small, self-contained folder.

Made for a GPU machine that can be sent only a few tens of MiB and reads nothing else: every
training source becomes a COCO-instances folder (photos downscaled and re-encoded, masks as
compressed RLE), and `packed_config.yaml` beside them trains on the copy.

Only the train side of the config's hash split (samkit.data.splits, its val_fraction and split_seed)
is packed, and the packed config sets val_fraction 0: held-out images never travel, and a run on the
copy cannot see them. Each packed image keeps its source file name after an index, so that it can
be traced back to its source.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from samkit.data.semantic_instances import CocoInstancesWriter
from samkit.data.transforms import _resize_mask, _resize_rgb
from samkit.training.config import config_to_dict
from samkit.training.run_setup import build_splits

log = logging.getLogger("samkit.data")

FORMATS = {"jpeg": "jpg", "webp": "webp", "png": "png"}


def shrink(image: np.ndarray, masks: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """H x W x 3 uint8 and N x H x W bool -> the same scaled so the longer side is at most max_side
    (masks antialiased: bilinear on 0/255, kept where at least half covered)."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image, masks
    hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    # the training transform's own resizes, so packed masks match what training would have made
    small_masks = [_resize_mask(m, hw) for m in masks]
    return _resize_rgb(image, hw), np.stack(small_masks) if small_masks else np.zeros((0, *hw), bool)


def encode(image: np.ndarray, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    extra = {"method": 6} if fmt == "webp" else {}
    Image.fromarray(image).save(buf, format=fmt.upper(), quality=quality, **extra)
    return buf.getvalue()


def pack_source(dataset, out_dir: Path, max_side: int = 448, fmt: str = "webp", quality: int = 80) -> tuple[int, int]:
    """Writes out_dir/{annotations/instances_train.json, images/train/*} from a RecordDataset of
    InstanceSamples; returns (images, masks) written. An image whose masks all vanish at the smaller
    size, or that its reader cannot load (logged), is left out, as training would skip it."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {sorted(FORMATS)}")
    writer = CocoInstancesWriter(out_dir, ["object"])
    for i in range(len(dataset)):
        try:
            sample = dataset[i]
        except Exception as e:  # a reader's own error: report and go on, as training would
            log.warning("pack: skipping %s: %s", dataset.records[i].get("key"), e)
            continue
        image, masks = shrink(sample.image_rgb, sample.masks, max_side)
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(sample.key).stem)
        file_name = f"{i:05d}_{stem}.{FORMATS[fmt]}"
        path = writer.image_dir / file_name
        path.write_bytes(encode(image, fmt, quality))  # first: the writer would link a missing file instead
        if not writer.add(path, file_name, [("object", m) for m in masks]):
            path.unlink()
    writer.write()
    return len(writer.images), len(writer.annotations)


def pack_training_data(cfg, out: str | Path, max_side: int = 448, fmt: str = "webp", quality: int = 80,
                       progress=print) -> Path:
    """Packs every cfg.data.train source's train side into out/srcNN_<name>/ and writes
    out/packed_config.yaml: cfg with those folders as its sources (same weights), no validation
    sources and val_fraction 0. Run training from inside `out` (the source paths are relative).
    Returns the config's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_sets, weights, _ = build_splits(cfg)
    specs = []
    for k, (ds, weight, spec) in enumerate(zip(train_sets, weights, cfg.data.train)):
        name = f"src{k:02d}_" + re.sub(r"[^A-Za-z0-9]+", "_", Path(spec.path).name or "data")[:24]
        n_img, n_mask = pack_source(ds, out / name, max_side, fmt, quality)
        size_mib = sum(p.stat().st_size for p in (out / name).rglob("*") if p.is_file()) / 2**20
        progress(f"{spec.path}: {n_img} images, {n_mask} masks, {size_mib:.1f} MiB -> {name}")
        specs.append({"path": name, "weight": weight})
    d = config_to_dict(cfg)
    d["data"].update(train=specs, val=[], val_fraction=0.0)
    path = out / "packed_config.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path
