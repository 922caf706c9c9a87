"""Files of `samkit auto`: finding images, resume bookkeeping, and writing results atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from samkit.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
OUTPUT_SUFFIXES = (".json", ".overlay.jpg", ".masks.png")
COCO_RESULTS = "coco_results.json"


def find_images(inp: Path, recursive: bool) -> list[Path]:
    if inp.is_file():
        return [inp]
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in inp.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(p.name.endswith(s) for s in (".overlay.jpg", ".masks.png")))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class AutoRun:
    """One `samkit auto` invocation: which images to do, where their results go."""

    def __init__(self, root: Path, out: Path, images: list[Path], settings: dict, fmt: str, overlay: bool,
                 overwrite: bool):
        self.root, self.out, self.images = root, out, images
        self.settings, self.fmt, self.overlay, self.overwrite = settings, fmt, overlay, overwrite
        self.out.mkdir(parents=True, exist_ok=True)

    def rel_name(self, image: Path) -> str:
        """Output base name: the path relative to the input folder, '/' -> '__' (unique per image)."""
        rel = image.name if self.root.is_file() else image.relative_to(self.root).as_posix()
        return rel.replace("/", "__")

    def json_path(self, image: Path) -> Path:
        return self.out / (self.rel_name(image) + ".json")

    def image_id(self, image: Path) -> int:
        return self.images.index(image) + 1

    def pending(self) -> list[Path]:
        """Images still to do. A finished image with other settings is an error unless --overwrite."""
        todo, conflicts = [], []
        for image in self.images:
            jp = self.json_path(image)
            if self.overwrite or not jp.is_file():
                todo.append(image)
                continue
            try:
                prev = json.loads(jp.read_text()).get("samkit", {}).get("settings")
            except (OSError, json.JSONDecodeError):
                todo.append(image)  # a damaged result is redone
                continue
            if prev != self.settings:
                conflicts.append(jp.name)
        if conflicts:
            raise InputError(f"{self.out} already holds results made with other settings ({conflicts[0]}"
                             f"{f' and {len(conflicts) - 1} more' if len(conflicts) > 1 else ''}); "
                             f"use another --out or pass --overwrite")
        return todo

    def process(self, todo: list[Path], generator) -> list[tuple[Path, str]]:
        from tqdm.auto import tqdm

        from samkit.errors import SamkitError
        from samkit.image_io import load_image

        failures: list[tuple[Path, str]] = []
        bar = tqdm(todo, desc="segment everything", unit="img")
        for image_path in bar:
            bar.set_postfix_str(image_path.name[-30:])
            try:
                image = load_image(image_path)
                records = generator.generate_records(image)
            except (SamkitError, OSError) as e:  # this image is skipped and reported; the run goes on
                failures.append((image_path, str(e)))
                tqdm.write(f"samkit auto: skipping {image_path}: {e}")
                continue
            self._write_image(image_path, image, records, dict(generator.timings))
        bar.close()
        return failures

    def _write_image(self, image_path: Path, image: np.ndarray, records, timings: dict) -> None:
        from PIL import Image

        from samkit.automatic.overlay import label_map, overlay

        base = self.out / self.rel_name(image_path)
        h, w = image.shape[:2]
        if self.overlay:
            Image.fromarray(overlay(image, records)).save(str(base) + ".overlay.jpg", quality=90)
        if self.fmt == "png":
            Image.fromarray(label_map(records, (h, w))).save(str(base) + ".masks.png")
        doc = {
            "image": {"image_id": self.image_id(image_path), "file_name": self.rel_name(image_path).replace("__", "/"),
                      "width": w, "height": h},
            "annotations": [r.to_sa1b_annotation(i + 1) for i, r in enumerate(records)],
            "samkit": {"settings": self.settings, "timings_s": {k: round(v, 3) for k, v in timings.items()}},
        }
        _atomic_write(base.with_name(base.name + ".json"), json.dumps(doc).encode())  # written last: marks done

    def write_coco_results(self, force: bool) -> Path | None:
        """coco_results.json over every finished image of this run's list (including earlier runs)."""
        if not force:
            return None
        results: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        for image in self.images:
            jp = self.json_path(image)
            if not jp.is_file():
                continue
            doc = json.loads(jp.read_text())
            # ids follow this run's sorted image list (coco_images.json maps them to files)
            info = dict(doc["image"], image_id=self.image_id(image))
            images.append(info)
            for ann in doc["annotations"]:
                results.append({"image_id": info["image_id"], "category_id": 1, "segmentation": ann["segmentation"],
                                "bbox": ann["bbox"], "area": ann["area"], "score": ann["predicted_iou"],
                                "stability_score": ann["stability_score"]})
        path = self.out / COCO_RESULTS
        _atomic_write(path, json.dumps(results).encode())
        _atomic_write(self.out / "coco_images.json", json.dumps(images).encode())
        return path
