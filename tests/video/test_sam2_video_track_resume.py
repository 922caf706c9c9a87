"""`samkit track` resumes a run killed mid-way (kill -9) and ends with the masks of an uninterrupted
run, byte for byte; an end-to-end run on a real DAVIS sequence (when ../shared/data is there)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from synthetic_video import synthetic_frames, write_frame_folder

FRAMES = 12
KILL_AFTER = 5  # masks written before the kill


def _track_cmd(video, out, *extra):
    return [sys.executable, "-m", "samkit", "track", str(video), "--point", "20,30", "--out", str(out),
            "--model", "sam2_test_tiny", "--device", "cpu", "--no-video", *extra]


def _env():
    # One thread: tiny models are faster so on the shared machine, and every run computes alike.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def _masks(out):
    return {p.name: p.read_bytes() for p in sorted((out / "masks").glob("*.png"))}


def test_killed_track_resumes_to_the_uninterrupted_masks(tmp_path):
    video = write_frame_folder(tmp_path / "v", synthetic_frames(FRAMES))
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(_track_cmd(video, full), check=True, env=_env(), capture_output=True, timeout=300)

    proc = subprocess.Popen(_track_cmd(video, cut), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(list((cut / "masks").glob("*.png"))) < KILL_AFTER and proc.poll() is None:
        assert time.monotonic() < deadline, "the run wrote no masks in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    written = len(list((cut / "masks").glob("*.png")))
    assert KILL_AFTER <= written < FRAMES and not (cut / "track.json").exists()
    for png in (cut / "masks").glob("*.png"):
        Image.open(png).load()  # never half a PNG

    # Other settings on the interrupted run: refused, and nothing of it is touched.
    other = subprocess.run(_track_cmd(video, cut, "--max-frames", "3"), env=_env(), capture_output=True, text=True)
    assert other.returncode != 0 and "interrupted run with other settings (max_frames differ)" in other.stderr
    assert "Traceback" not in other.stderr and len(_masks(cut)) == written

    resumed = subprocess.run(_track_cmd(video, cut), env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "(resumed)" in resumed.stdout
    assert _masks(cut) == _masks(full) and len(_masks(full)) == FRAMES
    result, reference = (json.loads((d / "track.json").read_text()) for d in (cut, full))
    assert result["frames"] == reference["frames"] and result["settings"] == reference["settings"]
    assert len(result["resumed"]) == 1 and result["resumed"][0]["frame"] is not None  # from a snapshot
    assert reference["resumed"] == []
    assert not (cut / ".track-run").exists()
    assert not [p for p in cut.rglob("*") if ".tmp" in p.name]

    # The finished run is not redone.
    again = subprocess.run(_track_cmd(video, cut), env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "already holds this run" in again.stdout


@pytest.mark.parametrize("stop_after", [2, 6, 9])
def test_interrupted_two_way_run_resumes_exactly(tmp_path, monkeypatch, stop_after):
    """Two objects, one prompted on frame 3: tracked forwards 3..7, then backwards 3..0 (9 masks).
    Interrupted after `stop_after` masks (in the forward pass, in the backward one, at the very end)
    and run again: the masks and track.json frames equal an uninterrupted run's."""
    import argparse

    from samkit.cli import track
    from samkit.video import mask_writer

    video = write_frame_folder(tmp_path / "v", synthetic_frames(8))
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 3, "obj": 2, "box": [58, 14, 77, 33]}]))

    def main(out):
        parser = argparse.ArgumentParser()
        track.register(parser.add_subparsers(dest="command"))
        args = parser.parse_args(["track", str(video), "--frame", "3", "--point", "20,30", "--prompts", str(prompts),
                                  "--out", str(out), "--model", "sam2_test_tiny", "--device", "cpu", "--no-video"])
        return args.func(args)

    assert main(tmp_path / "full") == 0
    real_write, written = mask_writer.write_davis_png, []

    def write_then_stop(path, labels_hw):
        real_write(path, labels_hw)
        written.append(path)
        if len(written) == stop_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(mask_writer, "write_davis_png", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        main(tmp_path / "cut")
    monkeypatch.setattr(mask_writer, "write_davis_png", real_write)
    assert main(tmp_path / "cut") == 0
    assert _masks(tmp_path / "cut") == _masks(tmp_path / "full") and len(_masks(tmp_path / "full")) == 8
    result, reference = (json.loads((d / "track.json").read_text()) for d in (tmp_path / "cut", tmp_path / "full"))
    assert result["frames"] == reference["frames"] and len(result["resumed"]) == 1


@pytest.mark.data
def test_track_on_a_davis_sequence(shared_data, tmp_path):
    """samkit track on 5 frames of DAVIS 2016 blackswan (854 x 480), the swan clicked on frame 0:
    DAVIS-format masks, overlay.mp4 and track.json. Random weights: the masks are not meaningful."""
    pytest.importorskip("av")
    import numpy as np

    from samkit.cli.main import main

    root = shared_data / "davis2016"
    seq, gt_png = root / "JPEGImages" / "480p" / "blackswan", root / "Annotations" / "480p" / "blackswan" / "00000.png"
    if not seq.is_dir() or not gt_png.is_file():
        pytest.skip(f"{seq} not present")
    ys, xs = np.nonzero(np.array(Image.open(gt_png)) > 0)
    out = tmp_path / "out"
    assert main(["track", str(seq), "--point", f"{int(np.median(xs))},{int(np.median(ys))}", "--max-frames", "4",
                 "--out", str(out), "--model", "sam2_test_tiny", "--device", "cpu"]) == 0
    pngs = sorted((out / "masks").glob("*.png"))
    assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(5)]
    img = Image.open(pngs[-1])
    assert img.mode == "P" and img.size == (854, 480) and set(np.unique(np.array(img))) <= {0, 1}
    import av

    with av.open(str(out / "overlay.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5
    result = json.loads((out / "track.json").read_text())
    assert result["objects"] == [1] and sorted(result["frames"], key=int) == [str(i) for i in range(5)]
    assert result["width"] == 854 and result["height"] == 480 and result["timing_s"]["per_frame"] > 0
