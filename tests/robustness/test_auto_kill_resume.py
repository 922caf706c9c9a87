"""`samkit auto` on a folder, killed with SIGKILL mid-run, then run again: every image ends with
exactly one result, nothing is missing or duplicated, and the results equal an uninterrupted run's
(an image's JSON is written last and atomically: it is the mark that the image is done)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image

from samkit import build_sam, save_checkpoint
from samkit.cli.main import main

NUM_IMAGES = 16
FLAGS = ["--points-per-side", "16", "--device", "cpu"]


def _results(out) -> dict[str, dict]:
    docs = {p.name: json.loads(p.read_text()) for p in sorted(out.glob("*.json")) if not p.name.startswith("coco_")}
    return {name: doc["annotations"] for name, doc in docs.items()}


def test_kill_9_then_resume_loses_and_repeats_nothing(tmp_path, one_torch_thread):
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(build_sam("tiny"), ckpt)
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(NUM_IMAGES):
        img = (rng.random((96, 128, 3)) * 60 + 90).astype(np.uint8)
        img[10 + i : 50 + i, 20:70] = (200, 40 + 10 * i, 30)  # one object per photo, in a different place
        Image.fromarray(img).save(folder / f"photo{i:02d}.png")

    out = tmp_path / "out"
    argv = ["auto", str(folder), "--out", str(out), "--checkpoint", str(ckpt), *FLAGS]
    proc = subprocess.Popen([sys.executable, "-m", "samkit", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and len(_results(out) if out.is_dir() else {}) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL, "the run ended before it could be killed"
    done_before = _results(out)
    assert 3 <= len(done_before) < NUM_IMAGES

    assert main(argv) == 0  # resumes: only the rest is done
    resumed = _results(out)
    assert sorted(resumed) == [f"photo{i:02d}.png.json" for i in range(NUM_IMAGES)]
    assert {k: resumed[k] for k in done_before} == done_before  # finished images were not redone

    clean = tmp_path / "clean"
    assert main(["auto", str(folder), "--out", str(clean), "--checkpoint", str(ckpt), *FLAGS]) == 0
    assert resumed == _results(clean)
    images = json.loads((out / "coco_images.json").read_text())
    assert sorted(im["image_id"] for im in images) == list(range(1, NUM_IMAGES + 1))
    results = json.loads((out / "coco_results.json").read_text())
    assert results == json.loads((clean / "coco_results.json").read_text())
