"""Accepted masks -> COCO instances JSON for retraining, with a leak-free held-out split.

The split is a hash of the image's path (relative to the images folder): an image is held out when
sha256(path) maps below `heldout_fraction`. It depends on nothing that changes between rounds, so
an image held out once is held out in every round and its masks never reach any training set. What
is exported: accepted masks not rejected by a review, of every stage (stage 3's only if asked:
training on the model's own unreviewed output teaches it its mistakes).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from samkit.engine.project import EngineProject


def is_heldout(path: str, heldout_fraction: float) -> bool:
    """Deterministic: the same image path is always on the same side."""
    digest = hashlib.sha256(path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < heldout_fraction


def split_images(project: EngineProject, heldout_fraction: float) -> tuple[list, list]:
    """(train ImageRows, held-out ImageRows) among the ok images."""
    ok = [im for im in project.store.images() if im.status == "ok"]
    held = [im for im in ok if is_heldout(im.path, heldout_fraction)]
    held_ids = {im.id for im in held}
    return [im for im in ok if im.id not in held_ids], held


def exportable_masks(project: EngineProject, images: list, stages: tuple[int, ...]) -> list:
    rejected = project.store.review_rejected_ids()
    ids = {im.id for im in images}
    return [m for m in project.store.masks(state="accepted")
            if m.image_id in ids and m.stage in stages and m.id not in rejected]


def coco_doc(project: EngineProject, images: list, masks: list) -> dict:
    """COCO instances: one category 'object'; file names relative to the images folder."""
    used = {m.image_id for m in masks}
    return {
        "images": [{"id": im.id, "file_name": im.path, "height": im.height, "width": im.width}
                   for im in images if im.id in used],
        "annotations": [{"id": m.id, "image_id": m.image_id, "category_id": 1, "segmentation": m.rle,
                         "area": m.area, "bbox": m.bbox_xywh, "iscrowd": 0} for m in masks],
        "categories": [{"id": 1, "name": "object"}],
    }


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def export_round(project: EngineProject, round_k: int, heldout_fraction: float = 0.2,
                 stages: tuple[int, ...] = (1, 2)) -> dict:
    """Write DIR/export/round_<k>/{train,heldout}.json; returns their paths and counts."""
    train_images, held_images = split_images(project, heldout_fraction)
    out = project.export_dir(round_k)
    out.mkdir(parents=True, exist_ok=True)
    train_masks = exportable_masks(project, train_images, stages)
    held_masks = exportable_masks(project, held_images, stages)
    _write_json(out / "train.json", coco_doc(project, train_images, train_masks))
    _write_json(out / "heldout.json", coco_doc(project, held_images, held_masks))
    return {"train": out / "train.json", "heldout": out / "heldout.json",
            "train_images": len({m.image_id for m in train_masks}), "train_masks": len(train_masks),
            "heldout_images": len({m.image_id for m in held_masks}), "heldout_masks": len(held_masks),
            "heldout_ids": sorted(im.id for im in held_images)}
