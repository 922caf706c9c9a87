"""SAM 2's video predictor in the J&F protocol: the propagation method (frame-0 mask, oracle clicks, box)
and `samkit eval --protocol video` rows, table, plot and JSON beside the baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from synthetic_video import synthetic_frames, write_frame_folder

import samkit.cli.main as cli_main
from samkit.cli.main import main
from samkit.errors import InputError
from samkit.evaluation.metrics import mask_iou
from samkit.evaluation.video_tracking_method import (ArrayFrames, SAM2VideoTracking, parse_video_prompts,
                                                     sam2_video_label)

PRESET = "sam2_test_tiny"
RANDOM_LABEL = f"{PRESET} (random weights)"


@pytest.fixture(autouse=True)
def _only_eval_subcommand(monkeypatch):
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", ("eval",))


@pytest.fixture(scope="module")
def video_predictor(one_torch_thread):
    from samkit.build import load_model
    from samkit.video.build_video import video_predictor_from_model

    torch.manual_seed(0)
    return video_predictor_from_model(load_model(PRESET, device="cpu"), release_old_frames=True)


def disc_masks(frames_n: int, hw=(72, 96)) -> list[np.ndarray]:
    """The GT of synthetic_frames' red disc (radius 10, moving right 5 px per frame)."""
    yy, xx = np.mgrid[: hw[0], : hw[1]]
    return [(xx - 20 - 5 * t) ** 2 + (yy - 30) ** 2 <= 100 for t in range(frames_n)]


def test_in_memory_frames_equal_the_same_frames_read_from_a_folder(tmp_path):
    from samkit.video.frame_folder import FolderFrames

    frames = synthetic_frames(3)
    folder = FolderFrames(str(write_frame_folder(tmp_path / "f", frames, suffix=".png")), 64)
    memory = ArrayFrames(frames, 64)
    assert (memory.video_height, memory.video_width, len(memory)) == (72, 96, 3)
    for i in range(3):
        assert torch.equal(memory[i], folder[i])
    assert np.array_equal(memory.original_frame(-1), frames[-1])


@pytest.mark.parametrize("prompt", ["mask", "clicks1", "clicks3", "box"])
def test_every_prompt_gives_one_mask_per_frame(video_predictor, prompt):
    frames = synthetic_frames(5)
    method = SAM2VideoTracking(video_predictor, prompt)
    masks = method(frames, disc_masks(5)[0])
    assert len(masks) == 5 and all(m.shape == (72, 96) and m.dtype == bool for m in masks)
    if prompt.startswith("clicks"):
        assert 1 <= method.clicks_used[-1] <= int(prompt[len("clicks"):])


def test_first_frame_mask_mode_reproduces_the_mask_at_frame_0(video_predictor):
    first = disc_masks(1)[0]
    masks = SAM2VideoTracking(video_predictor, "mask")(synthetic_frames(4), first)
    # The mask enters the model at 256 x 256 and comes back through the low-res logits: a few edge pixels move.
    assert mask_iou(masks[0], first) > 0.97


class RecordingPredictor:
    """A stand-in video predictor: frame-0 clicks give a fixed prediction (the left half of the GT),
    propagation repeats it on every frame. Records the prompts."""

    image_size = 32

    def __init__(self, prediction: np.ndarray):
        self.prediction = prediction
        self.calls = []

    def init_state(self, source):
        return {"num_frames": len(source)}

    def add_new_points_or_box(self, state, frame_idx, obj_id, points=None, labels=None, clear_old_points=True,
                              box=None):
        self.calls.append({"points": points, "labels": labels, "clear": clear_old_points, "box": box})
        return frame_idx, [obj_id], torch.from_numpy(np.where(self.prediction, 5.0, -5.0))[None, None]

    def propagate_in_video(self, state, start_frame_idx=0):
        for t in range(state["num_frames"]):
            yield t, [1], torch.from_numpy(np.where(self.prediction, 5.0, -5.0))[None, None]


def test_next_clicks_come_from_the_error_of_the_previous_frame_0_prediction():
    gt = np.zeros((40, 60), bool)
    gt[10:30, 10:50] = True
    half = gt.copy()
    half[:, 30:] = False  # the prediction misses the right half
    stub = RecordingPredictor(half)
    masks = SAM2VideoTracking(stub, "clicks3")(synthetic_frames(2, hw=(40, 60)), gt)
    assert len(masks) == 2 and np.array_equal(masks[1], half)
    assert [c["clear"] for c in stub.calls] == [True, False, False]
    (x1, y1), (x2, _) = stub.calls[0]["points"][0], stub.calls[1]["points"][0]
    assert gt[int(y1), int(x1)] and x2 >= 30 and stub.calls[1]["labels"][0] == 1  # a positive click in the miss
    box = SAM2VideoTracking(RecordingPredictor(gt), "box")
    box(synthetic_frames(2, hw=(40, 60)), gt)
    assert np.array_equal(box.predictor.calls[0]["box"], [10, 10, 50, 30])


def test_prompt_names_are_checked():
    assert parse_video_prompts("mask, clicks1,Clicks10,box") == ["mask", "clicks1", "clicks10", "box"]
    assert parse_video_prompts("none") == []
    for bad in ("", "clicks0", "points", "mask,mask"):
        with pytest.raises(InputError):
            parse_video_prompts(bad)
    assert sam2_video_label("m", "clicks1") == "m video, 1 click"


def run_eval(tmp_path, *argv, out="out"):
    out_dir = tmp_path / out
    return main(["eval", "--out", str(out_dir), *map(str, argv)]), out_dir


def test_cli_reports_video_rows_beside_the_baselines(tmp_path, tiny_davis, one_torch_thread):
    code, out = run_eval(tmp_path, "--model", PRESET, "--data", tiny_davis, "--protocol", "video",
                         "--max-frames", "3", "--video-prompts", "mask,clicks1,box")
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    rows = [f"{RANDOM_LABEL} video, {p}" for p in ("first-frame mask", "1 click", "first-frame box")]
    assert list(res["models"]) == ["copy first mask (zero motion)", RANDOM_LABEL] + rows
    assert res["settings"]["video_prompts"] == ["mask", "clicks1", "box"]
    for label, r in res["models"].items():
        s = r["summary"]
        assert set(s["per_sequence"]) == {"slide", "still"} and 0 <= s["mean"]["J&F"] <= 1
        assert all(v["frames"] == 2 for v in s["per_sequence"].values())
    assert res["models"][rows[1]]["mean_clicks"] == 1.0
    md = (out / "results.md").read_text()
    assert all(r in md for r in rows) and "| sequence | method | J | F | J&F | frames |" in md
    assert "video_j_and_f.png" in md
    assert (out / "video_j_and_f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_sam1_video_output_is_unchanged(tmp_path, tiny_davis, one_torch_thread):
    code, out = run_eval(tmp_path, "--model", "grabcut", "--data", tiny_davis, "--protocol", "video",
                         "--max-frames", "2")
    assert code == 0
    assert list(json.loads((out / "results.json").read_text())["models"]) == ["copy first mask (zero motion)",
                                                                              "GrabCut"]
    assert not (out / "video_j_and_f.png").exists() and "| sequence | method |" not in (out / "results.md").read_text()


def test_cli_refuses_unknown_video_prompts_in_one_line(tmp_path, tiny_davis, capsys):
    code, out = run_eval(tmp_path, "--model", PRESET, "--data", tiny_davis, "--protocol", "video",
                         "--video-prompts", "mask,scribble")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "scribble" in err and len(err.splitlines()) == 1 and not out.exists()


@pytest.mark.data
def test_cli_on_a_real_davis_sequence(tmp_path, shared_data, one_torch_thread):
    davis = shared_data / "davis2016"
    if not (davis / "JPEGImages" / "480p" / "blackswan").is_dir():
        pytest.skip(f"{davis}/JPEGImages/480p/blackswan not present")
    code, out = run_eval(tmp_path, "--model", PRESET, "--data", davis, "--protocol", "video", "--sequences",
                         "blackswan", "--max-frames", "3", "--video-prompts", "mask,clicks1")
    assert code == 0
    models = json.loads((out / "results.json").read_text())["models"]
    assert len(models) == 4 and (out / "video_j_and_f.png").is_file()
    copy = models["copy first mask (zero motion)"]["summary"]["mean"]["J&F"]
    assert 0.3 < copy <= 1  # blackswan barely moves over 3 frames
    assert all(0 <= m["summary"]["mean"]["J&F"] <= 1 for m in models.values())
