"""Convert the ISBI-2012 EM stack into a LabPics-format dataset for the SAM 2 fine-tuning demo.

    python scripts/finetune_demo/make_labpics.py [--src ../shared/data/microscopy/isbi2012_em_membrane]
                                                 [--out /work/finetune_demo/labpics_isbi2012]

Source: 30 serial-section EM slices (512 x 512, 8-bit grey, image/<k>.png) and their membrane
labels (label/<k>.png: 255 = cell interior, 0 = membrane). Output (the layout `samkit.data.labpics`
reads): <out>/Simple/{Train,Test}/Image/<k>.jpg + Instance/<k>.png, RGB, red channel = vessel
instance ids = the connected components (4-connected) of the cell interior, 1..255 from the largest
cell down (components under --min-area px and any beyond the 255th are dropped: they stay 0, as
membrane does); blue channel (material ids) empty, green 0. The images are saved as RGB JPEG
(quality 95: LabPics ships JPEG photos) with the grey value copied to all three channels.

Split: Test = the slices that samkit's hash split holds out (`samkit.data.splits.held_out(file name,
0.15, 0)`: slices 19 and 26), the split every stage of samkit's built-in models used, so no stage of
the built-in SAM 2 model or of the SAM 1 built-in it descends from (its encoder was distilled from
that model's, its heads transplanted from it) saw these two slices, images or masks. Train = the
other slices except the Test slices' direct neighbours (18, 20, 25, 27): consecutive 50 nm sections
show the same neurites, so a neighbour would be a near-copy of a Test slice.

The built-in SAM 2 model's own training leaves isbi2012_em_membrane out (docs/training.md, "SAM 2").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

HERE = Path(__file__).resolve()
DEFAULT_SRC = HERE.parents[3] / "shared" / "data" / "microscopy" / "isbi2012_em_membrane"
DEFAULT_OUT = Path("/work/finetune_demo/labpics_isbi2012")
VAL_FRACTION, SPLIT_SEED = 0.15, 0  # the built-in models' hash split (docs/model-card.md)
NEIGHBOURS_SKIPPED = 1  # Train leaves out slices this close to a Test slice
MAX_IDS = 255  # one 8-bit channel


def slice_number(path: Path) -> int:
    m = re.fullmatch(r"(\d+)", path.stem)
    if m is None:
        raise SystemExit(f"{path}: expected a slice file named <number>.png")
    return int(m.group(1))


def cell_instances(label: np.ndarray, min_area_px: int) -> np.ndarray:
    """label H x W (255 = interior, 0 = membrane) -> H x W uint8 ids, 1 = largest cell."""
    comps, n = ndimage.label(label > 127)  # default structure: 4-connectivity
    areas = np.bincount(comps.ravel(), minlength=n + 1)[1:]
    order = [k + 1 for k in np.argsort(-areas, kind="stable") if areas[k] >= min_area_px][:MAX_IDS]
    lut = np.zeros(n + 1, np.uint8)
    lut[order] = np.arange(1, len(order) + 1, dtype=np.uint8)
    return lut[comps]


def split_of_slices(images: list[Path]) -> dict[int, str]:
    """slice number -> "Test" (held out by the hash split), "Train", or "" (a Test slice's neighbour)."""
    from samkit.data.splits import held_out

    test = {slice_number(p) for p in images if held_out(p.name, VAL_FRACTION, SPLIT_SEED)}
    if not test:
        raise SystemExit("the hash split holds out none of these slices; nothing to test on")
    split = {}
    for p in images:
        k = slice_number(p)
        near = min(abs(k - t) for t in test)
        split[k] = "Test" if near == 0 else ("Train" if near > NEIGHBOURS_SKIPPED else "")
    return split


def convert(src: Path, out: Path, min_area_px: int) -> dict:
    images = sorted((src / "image").glob("*.png"), key=slice_number)
    if not images:
        raise SystemExit(f"{src}/image holds no <number>.png slices")
    splits = split_of_slices(images)
    counts = {"Train": [0, 0], "Test": [0, 0]}  # images, instances
    for img_path in images:
        k = slice_number(img_path)
        lab_path = src / "label" / img_path.name
        if not lab_path.is_file():
            raise SystemExit(f"{lab_path}: label of {img_path} missing")
        split = splits[k]
        if not split:
            continue
        grey = np.asarray(Image.open(img_path).convert("L"))
        label = np.asarray(Image.open(lab_path).convert("L"))
        if grey.shape != label.shape:
            raise SystemExit(f"{lab_path}: shape {label.shape} differs from the image's {grey.shape}")
        ids = cell_instances(label, min_area_px)
        inst = np.zeros((*ids.shape, 3), np.uint8)
        inst[..., 0] = ids  # red = vessel instance ids; blue (material) stays empty
        folder = out / "Simple" / split
        (folder / "Image").mkdir(parents=True, exist_ok=True)
        (folder / "Instance").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.stack([grey] * 3, -1)).save(folder / "Image" / f"{k}.jpg", quality=95)
        Image.fromarray(inst).save(folder / "Instance" / f"{k}.png")
        counts[split][0] += 1
        counts[split][1] += int(ids.max())
    summary = {s: {"images": c[0], "cells": c[1]} for s, c in counts.items()}
    summary["slices"] = {name: sorted(k for k, v in splits.items() if v == side)
                         for name, side in (("Train", "Train"), ("Test", "Test"), ("left out", ""))}
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", type=Path, default=DEFAULT_SRC)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--min-area", type=int, default=30, help="smallest cell kept, in pixels of the 512 x 512 slice")
    args = p.parse_args(argv)
    if (args.out / "Simple").exists():
        raise SystemExit(f"{args.out}/Simple exists already; remove it or choose another --out")
    summary = convert(args.src, args.out, args.min_area)
    (args.out / "README.txt").write_text(
        f"LabPics-format copy of {args.src.resolve()} made by scripts/finetune_demo/make_labpics.py "
        f"(--min-area {args.min_area}); research data, do not redistribute.\n{json.dumps(summary)}\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
