"""`samkit track`: DAVIS-format masks, overlay video, picture strip and JSON from a tiny random model."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from synthetic_video import synthetic_frames, write_frame_folder, write_video

from samkit.cli import track


def _main(argv):
    parser = argparse.ArgumentParser()
    track.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["track", *argv])
    return args.func(args)


def test_track_writes_davis_masks_video_and_json(tmp_path):
    pytest.importorskip("av")
    video = write_video(tmp_path / "clip.mp4", synthetic_frames(5))
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 2, "obj": 5, "box": [58, 14, 77, 33]}]))
    out = tmp_path / "out"
    argv = [str(video), "--point", "20,30", "--point", "50,50,0", "--prompts", str(prompts), "--out", str(out),
            "--model", "sam2_test_tiny", "--device", "cpu"]
    assert _main(argv) == 0
    pngs = sorted(p.name for p in (out / "masks").glob("*.png"))
    assert pngs == [f"{i:05d}.png" for i in range(5)]
    img = Image.open(out / "masks" / "00003.png")
    assert img.mode == "P" and img.size == (96, 72)
    assert set(np.unique(np.array(img))) <= {0, 1, 5}
    result = json.loads((out / "track.json").read_text())
    assert result["objects"] == [1, 5] and sorted(result["frames"], key=int) == [str(i) for i in range(5)]
    assert len(result["frames"]["4"]["object_score_logits"]) == 2
    assert (out / "overlay.mp4").stat().st_size > 0 and Image.open(out / "strip.png").size[1] == 160
    assert not (out / ".track-run").exists() and result["resumed"] == []
    # The same command again finds the run finished; other settings never overwrite it silently.
    from samkit.errors import InputError

    assert _main(argv) == 0
    with pytest.raises(InputError, match="--overwrite"):
        _main(argv + ["--max-frames", "2"])
    assert _main(argv + ["--overwrite", "--reverse", "--max-frames", "1", "--no-video"]) == 0
    assert sorted(p.name for p in (out / "masks").glob("*.png")) == ["00001.png", "00002.png"]


def test_track_input_errors(tmp_path):
    from samkit.errors import InputError

    folder = write_frame_folder(tmp_path / "v", synthetic_frames(2))
    with pytest.raises(InputError, match="give a prompt"):
        _main([str(folder), "--out", str(tmp_path / "o"), "--model", "sam2_test_tiny"])
    with pytest.raises(InputError, match="SAM 2 model"):
        _main([str(folder), "--point", "1,1", "--out", str(tmp_path / "o"), "--model", "vit_t"])
    with pytest.raises(InputError, match="1..255"):
        _main([str(folder), "--point", "1,1", "--obj", "300", "--out", str(tmp_path / "o"), "--model", "sam2_test_tiny"])
