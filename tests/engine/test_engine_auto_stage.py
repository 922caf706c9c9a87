"""Stage 3: SA-1B JSON per image + masks in the store, resumable; kill -9 mid-run loses nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from synthetic_engine_data import FAST_AMG

from samkit.engine.auto_stage import auto_json_path, run_auto
from samkit.engine.project import init_project, open_project

FLAGS = ["--points-per-side", "4", "--crop-n-layers", "0", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
         "--min-mask-region-area", "0"]


def test_auto_writes_sa1b_json_and_resumes(tmp_path, engine_data, tiny_ckpt, one_torch_thread):
    project = init_project(tmp_path / "p", engine_data / "images", str(tiny_ckpt))
    first = run_auto(project, FAST_AMG, limit=3, progress=False)
    assert first.done == 3 and first.failed == []
    doc = json.loads(auto_json_path(project, 1).read_text())
    assert set(doc) >= {"image", "annotations"} and doc["image"]["file_name"] == "img_000.png"
    ann = doc["annotations"][0]
    assert set(ann) >= {"id", "segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score",
                        "crop_box"}
    assert doc["samkit"]["settings"]["points_per_side"] == 4
    stage3 = project.store.masks(1, stage=3)
    assert len(stage3) == len(doc["annotations"]) and stage3[0].source == "model:0"
    assert stage3[0].predicted_iou is not None and stage3[0].stability is not None
    # a run killed after writing image 2's JSON but before its store rows: the rerun finishes it
    conn = sqlite3.connect(project.dir / "engine.sqlite")
    conn.execute("DELETE FROM masks WHERE image_id = 2")
    conn.execute("DELETE FROM image_stages WHERE image_id = 2")
    conn.commit()
    conn.close()
    before = auto_json_path(project, 1).stat().st_mtime_ns
    second = run_auto(open_project(project.dir), FAST_AMG, progress=False)
    assert (second.done, second.skipped, second.recovered) == (5, 3, 1)
    assert auto_json_path(project, 1).stat().st_mtime_ns == before  # written images are not redone
    assert len(project.store.masks(2, stage=3)) == len(json.loads(auto_json_path(project, 2).read_text())["annotations"])
    assert all(3 in im.done_stages for im in project.store.images() if im.status == "ok")
    assert run_auto(project, FAST_AMG, progress=False).done == 0


def _store_consistent(project) -> int:
    """Every image marked done has its JSON and exactly its JSON's masks; returns # done."""
    conn = sqlite3.connect(project.dir / "engine.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    done = 0
    for im in project.store.images():
        if 3 in im.done_stages:
            done += 1
            doc = json.loads(auto_json_path(project, im.id).read_text())
            assert len(project.store.masks(im.id, stage=3)) == len(doc["annotations"])
    return done


def test_kill_9_during_auto_loses_nothing_and_resume_skips(tmp_path, engine_data, tiny_ckpt):
    project = init_project(tmp_path / "p", engine_data / "images", str(tiny_ckpt))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # a slower grid so the kill lands mid-run
    cmd = [sys.executable, "-m", "samkit", "engine", "auto", str(project.dir), *FLAGS[2:], "--points-per-side", "16"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(project.auto_dir.glob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = {p.name for p in project.auto_dir.glob("*.json")}
    assert len(written) >= 2
    summary = run_auto(open_project(project.dir), {**FAST_AMG, "points_per_side": 16}, progress=False)
    assert summary.skipped == len(written) and summary.done == 8 - len(written)
    assert _store_consistent(open_project(project.dir)) == 8
    assert not list(project.auto_dir.glob(".*.tmp*"))  # no half-written file left visible as a result
