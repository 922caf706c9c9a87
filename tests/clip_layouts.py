"""Video dataset layouts written by tests: YouTube-VOS (palette PNGs, sparse, meta.json) and SA-V
(one PNG folder per object). Used by tests/data/test_clip_*.py."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

H, W = 24, 32
OBJ1 = (slice(2, 8), slice(2, 10))
OBJ2 = (slice(12, 20), slice(16, 28))


def palette_png(labels: np.ndarray, path: Path) -> None:
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * 759)
    im.save(path)


def write_ytvos(root: Path) -> Path:
    """v1: 20 frames, annotated every 5th (00000, 00005, 00010, 00015); object 1 on 00000-00010, object 2
    on 00005-00015. v2: 2 annotated frames only. meta.json lists v1, v2 and v3 (no folder)."""
    for video, n_frames in (("v1", 20), ("v2", 10)):
        (root / "JPEGImages" / video).mkdir(parents=True)
        (root / "Annotations" / video).mkdir(parents=True)
        for t in range(n_frames):
            Image.fromarray(np.full((H, W, 3), 8 * t, np.uint8)).save(root / "JPEGImages" / video / f"{t:05d}.jpg")
            if t % 5:
                continue
            lab = np.zeros((H, W), np.uint8)
            if t <= 10:
                lab[OBJ1] = 1
            if t >= 5:
                lab[OBJ2] = 2
            palette_png(lab, root / "Annotations" / video / f"{t:05d}.png")
    (root / "meta.json").write_text(json.dumps({"videos": {v: {"objects": {}} for v in ("v1", "v2", "v3")}}))
    return root


def write_sav(root: Path) -> Path:
    """SA-V after extraction: 12 frames at 24 fps, masks every 4th frame in one folder per object.
    Object 000 is on 00000, 00004, 00008; object 001 has PNGs only for 00004 and 00008 (absent before)."""
    frames, anns = root / "JPEGImages_24fps" / "sav_1", root / "Annotations_6fps" / "sav_1"
    frames.mkdir(parents=True)
    for t in range(12):
        Image.fromarray(np.full((H, W, 3), 10 * t, np.uint8)).save(frames / f"{t:05d}.jpg")
    for obj, region, stems in (("000", OBJ1, (0, 4, 8)), ("001", OBJ2, (4, 8))):
        (anns / obj).mkdir(parents=True)
        for t in stems:
            m = np.zeros((H, W), np.uint8)
            m[region] = 255
            Image.fromarray(m).save(anns / obj / f"{t:05d}.png")
    return root
