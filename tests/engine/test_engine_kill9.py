"""kill -9 at any moment loses no accepted mask: an annotator's writes, and the simulated loop
killed while it annotates and while it retrains; the store reopens intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from samkit.engine.project import open_project

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from samkit.automatic.rle import encode_coco_rle
    from samkit.engine.project import open_project
    project = open_project(sys.argv[1])
    image = [im for im in project.store.images() if im.status == "ok"][0]
    i = 0
    while True:
        m = np.zeros((image.height, image.width), bool)
        m[i % 50: i % 50 + 20, 5:40] = True
        row = project.store.add_mask(image.id, encode_coco_rle(m), stage=1, round=0, source="annotator:k",
                                     clicks=2, seconds=9.0, client_id=f"k-{i}")
        print(row.id, flush=True)  # the annotator was told "saved"
        i += 1
""")


def _integrity_ok(db) -> bool:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_kill_9_while_an_annotator_saves(tmp_path, engine_data, tiny_ckpt):
    from samkit.engine.project import init_project

    project = init_project(tmp_path / "p", engine_data / "images", str(tiny_ckpt))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(project.dir)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    acknowledged = []
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) >= 40:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _integrity_ok(project.dir / "engine.sqlite")
    stored = {m.id for m in open_project(project.dir).store.masks(state="accepted")}
    assert set(acknowledged) <= stored


def test_kill_9_during_the_simulated_loop(tmp_path, engine_data, tiny_ckpt):
    """Killed while retraining after stage 1: every stage-1 mask is there, the old model is still the
    project's, and the store opens and takes new masks."""
    proj = tmp_path / "sim"
    cmd = [sys.executable, "-m", "samkit", "engine", "simulate", str(proj), "--gt", str(engine_data / "gt.json"),
           "--images", str(engine_data / "images"), "--model", str(tiny_ckpt), "--steps", "400", "--threads", "1", "--heldout-fraction", "0.3",
           "--accept-floor", "0", "--min-object-area", "64", "--points-per-side", "4", "--crop-n-layers", "0",
           "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--quiet"]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    db = proj / "engine.sqlite"
    seen_masks, deadline = 0, time.time() + 150
    round_dir = proj / "models" / "round_1"  # made right before the training run starts
    while time.time() < deadline and not round_dir.exists():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        if db.exists() and (proj / "engine.toml").exists():
            try:
                conn = sqlite3.connect(db, timeout=5)
                seen_masks = max(seen_masks, conn.execute("SELECT COUNT(*) FROM masks WHERE state='accepted'").fetchone()[0])
                conn.close()
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    time.sleep(1.0)  # inside the training run (400 steps: far from done)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert round_dir.exists(), "the run never reached retraining"
    assert not (round_dir / "metrics.json").exists(), "the kill came after the retrain finished"
    assert _integrity_ok(db)
    project = open_project(proj)
    accepted = project.store.masks(stage=1, state="accepted")
    assert len(accepted) >= seen_masks > 0
    assert all(m.clicks > 0 and m.seconds > 0 for m in accepted)
    assert project.store.current_model() is None or project.store.current_model().round == 0
    assert str(project.current_model_path()) == str(tiny_ckpt.resolve())
