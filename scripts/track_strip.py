"""Regenerate docs/img/track_strip.png: `samkit track` on a synthetic clip made from the project's own
CC0 photo (examples/chelsea.png, a 320 x 240 window panning across the cat over 24 frames).

Usage (from the repo root): python scripts/track_strip.py [OUT_DIR]   (default /tmp/track_strip)
The model is samkit's built-in SAM 2 (`--model sam2`, docs/model-card-sam2.md), prompted with a box
around the cat's left-hand eye on frame 0 and tracked through the rest.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/track_strip")
frames_dir, out = work / "frames", work / "out"
shutil.rmtree(work, ignore_errors=True)
frames_dir.mkdir(parents=True)
photo = np.asarray(Image.open("examples/chelsea.png").convert("RGB"))  # 451 x 300
n, (h, w) = 24, (240, 320)
for i in range(n):
    x, y = round(i * (photo.shape[1] - w) / (n - 1)), round(i * (photo.shape[0] - h) / (n - 1))
    Image.fromarray(photo[y : y + h, x : x + w]).save(frames_dir / f"{i:05d}.jpg", quality=95)
# The cat's left-hand eye lies in about (132, 82)-(212, 150) of the photo; in frame 0 the window starts at (0, 0).
subprocess.run([sys.executable, "-m", "samkit", "track", str(frames_dir), "--box", "132,82,212,150", "--out", str(out),
                "--model", "sam2", "--device", "cpu", "--no-video"], check=True)
strip = Image.open(out / "strip.png").convert("RGB").quantize(colors=128)  # a small file for the docs
strip.save("docs/img/track_strip.png", optimize=True)
print("docs/img/track_strip.png", strip.size)
