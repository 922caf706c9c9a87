"""The annotator's video mode on the server (/api/videos/...): listing, frames, clicks, propagation,
masks per frame, corrections, object edits, the DAVIS export, a restart, errors and the OpenAPI.

The masks the endpoints answer are compared with SAM2VideoPredictor driven directly with the same
prompts on the same (random, seeded) sam2_test_tiny weights: the server adds nothing but storage."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from synthetic_video import synthetic_frames, write_frame_folder, write_video

NUM_FRAMES = 6
HW = (72, 96)


@pytest.fixture(scope="module")
def video_model(one_torch_thread):
    from samkit.build import load_model

    torch.manual_seed(0)
    return load_model("sam2_test_tiny", device="cpu")


@pytest.fixture
def video_folder(tmp_path) -> Path:
    """clip/ (6 JPEG frames), a photo (not a video), a folder of unnumbered photos (not a video)."""
    folder = tmp_path / "served"
    write_frame_folder(folder / "clip", synthetic_frames(NUM_FRAMES))
    Image.fromarray(synthetic_frames(1)[0]).save(folder / "photo.png")
    (folder / "holiday").mkdir()
    for name in ("beach.jpg", "dinner.jpg"):
        Image.fromarray(synthetic_frames(1)[0]).save(folder / "holiday" / name)
    return folder


@pytest.fixture
def client_for(video_model, make_client):
    """client_for(folder, model=video_model) -> a started TestClient (closed at teardown)."""
    return lambda folder, model=None: make_client(folder, model=video_model if model is None else model)


@pytest.fixture
def direct(video_model):
    """The video predictor as the server makes it, to drive by hand."""
    from samkit.video.build_video import video_predictor_from_model

    predictor = video_predictor_from_model(video_model, fill_hole_area=8)
    predictor.binarize_mask_from_pts_for_mem_enc = True
    predictor.show_progress = False
    return predictor


def _clip_id(client) -> str:
    return next(v["id"] for v in client.get("/api/videos").json() if v["name"] == "clip")


def _labels(frame_masks: dict) -> np.ndarray:
    """The label map a FrameMasks answer describes (objects do not overlap)."""
    labels = np.zeros((frame_masks["height"], frame_masks["width"]), np.uint8)
    for o in frame_masks["objects"]:
        seg = o["segmentation"]
        mask = mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool)
        assert o["area"] == mask.sum()
        assert not (labels[mask] > 0).any(), "objects overlap"
        labels[mask] = o["obj_id"]
    return labels


def _prompt(client, vid, frame, **body) -> dict:
    r = client.post(f"/api/videos/{vid}/frames/{frame}/prompts", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _propagate(client, vid, **body) -> dict:
    r = client.post(f"/api/videos/{vid}/propagate", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["state"] in ("running", "done")
    deadline = time.time() + 120
    while (status := client.get(f"/api/videos/{vid}/propagate").json())["state"] == "running":
        assert time.time() < deadline, status
        time.sleep(0.02)
    assert status["state"] == "done", status
    return status


def _blocks(rgb: np.ndarray, k: int = 6) -> np.ndarray:
    h, w = rgb.shape[0] // k * k, rgb.shape[1] // k * k
    return rgb[:h, :w].astype(np.float32).reshape(h // k, k, w // k, k, 3).mean(axis=(1, 3))


def _direct_labels(masks, obj_ids) -> np.ndarray:
    from samkit.video.mask_writer import label_map

    return label_map(masks, list(obj_ids))


def test_lists_videos_and_serves_frames(client_for, video_folder):
    av = pytest.importorskip("av", reason="the MP4 part needs PyAV")  # noqa: F841
    frames = synthetic_frames(NUM_FRAMES)
    write_video(video_folder / "movie.mp4", frames[:5])
    (video_folder / "broken.mp4").write_bytes(b"not a video at all")
    client = client_for(video_folder)
    videos = {v["name"]: v for v in client.get("/api/videos").json()}
    assert set(videos) == {"clip", "movie.mp4", "broken.mp4"}  # photos and unnumbered folders are no videos
    assert videos["clip"] | {"id": None} == {"id": None, "name": "clip", "kind": "frames", "num_frames": NUM_FRAMES,
                                             "width": HW[1], "height": HW[0], "num_objects": 0,
                                             "num_masked_frames": 0, "error": None}
    assert (videos["movie.mp4"]["kind"], videos["movie.mp4"]["num_frames"]) == ("file", 5)
    assert videos["broken.mp4"]["num_frames"] == 0 and "broken.mp4" in videos["broken.mp4"]["error"]
    r = client.get(f"/api/videos/{videos['broken.mp4']['id']}/frames/0")
    assert r.status_code == 409 and "cannot be read" in r.json()["detail"]

    for name, source in (("clip", frames), ("movie.mp4", frames[:5])):
        vid = videos[name]["id"]
        for t in (3, 1, 2, 4):  # backwards and forwards through the file
            r = client.get(f"/api/videos/{vid}/frames/{t}")
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            got = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
            assert got.shape == (*HW, 3)
            # Block means: the moving shapes stay, the JPEG noise on the noisy background averages out.
            errors = [np.abs(_blocks(got) - _blocks(f)).mean() for f in source]
            assert int(np.argmin(errors)) == t and errors[t] < 4, f"{name} frame {t}: errors {errors}"
        small = Image.open(io.BytesIO(client.get(f"/api/videos/{vid}/frames/0?max_side=48").content))
        assert small.size == (48, 36)
        assert client.get(f"/api/videos/{vid}/frames/0?max_side=2").status_code == 422

    # A video file is tracked as a folder is; its export names frames by index.
    vid = videos["movie.mp4"]["id"]
    assert _prompt(client, vid, 2, box=[10, 15, 35, 45])["obj_id"] == 1
    _propagate(client, vid)
    assert client.get(f"/api/videos/{vid}").json()["masked_frames"] == [0, 1, 2, 3, 4]
    with zipfile.ZipFile(io.BytesIO(client.get(f"/api/videos/{vid}/export/davis.zip").content)) as zf:
        assert zf.namelist() == [f"movie/{t:05d}.png" for t in range(5)]


def test_click_propagate_correct_and_export(client_for, video_folder, direct):
    client = client_for(video_folder)
    vid = _clip_id(client)
    state = direct.init_state(str(video_folder / "clip"))

    # A click on frame 0 makes object 1; the frame's masks are the predictor's.
    got = _prompt(client, vid, 0, points=[[20, 30]], labels=[1])
    _, ids, masks = direct.add_new_points_or_box(state, 0, 1, points=[[20, 30]], labels=[1])
    assert got["obj_id"] == 1 and got["source"] == "prompted" and got["frame_idx"] == 0
    assert got["prompts"] == [{"obj_id": 1, "frame_idx": 0, "points": [[20.0, 30.0]], "labels": [1], "box": None}]
    np.testing.assert_array_equal(_labels(got), _direct_labels(masks, ids))
    assert _labels(got).any()

    # Propagation stores every frame's masks: those of propagate_in_video.
    status = _propagate(client, vid)
    assert (status["frames_done"], status["frames_total"], status["progress"]) == (NUM_FRAMES, NUM_FRAMES, 1.0)
    expected = {t: _direct_labels(m, i) for t, i, m in direct.propagate_in_video(state, start_frame_idx=0)}
    for t in range(NUM_FRAMES):
        masks_t = client.get(f"/api/videos/{vid}/frames/{t}/masks").json()
        assert masks_t["source"] == ("prompted" if t == 0 else "tracked")
        np.testing.assert_array_equal(_labels(masks_t), expected[t], err_msg=f"frame {t}")
    assert expected[NUM_FRAMES - 1].any(), "pick a click whose object survives to the last frame"

    # A correction on a later frame (a background click) and a second object (a box) on another.
    got = _prompt(client, vid, 4, obj_id=1, points=[[40, 30]], labels=[0])
    _, ids, masks = direct.add_new_points_or_box(state, 4, 1, points=[[40, 30]], labels=[0])
    np.testing.assert_array_equal(_labels(got), _direct_labels(masks, ids))
    got = _prompt(client, vid, 2, box=[55, 10, 80, 40])
    _, ids, masks = direct.add_new_points_or_box(state, 2, 2, box=[55, 10, 80, 40])
    assert got["obj_id"] == 2 and sorted(o["obj_id"] for o in got["objects"]) == [1, 2]
    np.testing.assert_array_equal(_labels(got), _direct_labels(masks, ids))
    session = client.get(f"/api/videos/{vid}").json()
    assert session["objects"] == [{"obj_id": 1, "prompted_frames": [0, 4]}, {"obj_id": 2, "prompted_frames": [2]}]
    assert session["prompted_frames"] == [0, 2, 4] and session["masked_frames"] == list(range(NUM_FRAMES))

    # Propagating again (forward from the first prompt, then backward from it: nothing before 0).
    _propagate(client, vid, direction="both")
    expected = {t: _direct_labels(m, i) for t, i, m in direct.propagate_in_video(state, start_frame_idx=0)}
    stored = {}
    for t in range(NUM_FRAMES):
        stored[t] = _labels(client.get(f"/api/videos/{vid}/frames/{t}/masks").json())
        np.testing.assert_array_equal(stored[t], expected[t], err_msg=f"frame {t} after the correction")
    assert any((stored[t] == 2).any() for t in range(NUM_FRAMES))

    # Backward from the last frame only touches what it tracks.
    status = _propagate(client, vid, direction="backward", start_frame_idx=NUM_FRAMES - 1)
    assert status["frames_total"] == NUM_FRAMES and status["direction"] == "backward"

    # The DAVIS export: one indexed PNG per frame, named as the frames, pixel = object id.
    r = client.get(f"/api/videos/{vid}/export/davis.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "clip_davis_masks.zip" in r.headers["content-disposition"]
    from samkit.video.mask_writer import davis_palette

    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.namelist() == [f"clip/{t:05d}.png" for t in range(NUM_FRAMES)]
        for t in range(NUM_FRAMES):
            img = Image.open(io.BytesIO(zf.read(f"clip/{t:05d}.png")))
            assert img.mode == "P" and img.size == (HW[1], HW[0])
            assert img.getpalette()[:9] == davis_palette()[:9]
            labels = np.array(img)
            assert set(np.unique(labels)) <= {0, 1, 2}
            np.testing.assert_array_equal(labels, _labels(client.get(f"/api/videos/{vid}/frames/{t}/masks").json()))
    assert not list((video_folder / ".samkit" / "videos" / vid).glob(".export-*")), "the temporary zip is removed"


def test_clear_prompts_and_remove_object(client_for, video_folder):
    client = client_for(video_folder)
    vid = _clip_id(client)
    _prompt(client, vid, 0, points=[[20, 30]], labels=[1])
    _prompt(client, vid, 1, box=[55, 10, 80, 40])
    _propagate(client, vid)
    before = {t: _labels(client.get(f"/api/videos/{vid}/frames/{t}/masks").json()) for t in range(NUM_FRAMES)}
    assert any((before[t] == 2).any() for t in range(NUM_FRAMES))

    # Clearing object 2's box on frame 1: it has no prompt left, so propagation is refused until it
    # gets one or goes; the frame's mask of it becomes the tracked one (still there).
    r = client.delete(f"/api/videos/{vid}/frames/1/prompts", params={"obj_id": 2})
    assert r.status_code == 200 and r.json()["prompts"] == [] and r.json()["source"] == "tracked"
    r = client.post(f"/api/videos/{vid}/propagate", json={})
    assert r.status_code == 409 and "[2]" in r.json()["detail"] and "no prompt" in r.json()["detail"]

    # Removing it takes its pixels off every stored frame.
    r = client.delete(f"/api/videos/{vid}/objects/2")
    assert r.status_code == 200 and [o["obj_id"] for o in r.json()["objects"]] == [1]
    for t in range(NUM_FRAMES):
        after = _labels(client.get(f"/api/videos/{vid}/frames/{t}/masks").json())
        np.testing.assert_array_equal(after, np.where(before[t] == 2, 0, before[t]))
    _propagate(client, vid)  # object 1 alone tracks on
    # The next new object takes the next id.
    assert _prompt(client, vid, 3, points=[[60, 20]], labels=[1])["obj_id"] == 2


def test_a_restarted_server_keeps_masks_and_tracks_on(client_for, video_folder):
    first = client_for(video_folder)
    vid = _clip_id(first)
    _prompt(first, vid, 0, points=[[20, 30]], labels=[1])
    _prompt(first, vid, 2, box=[55, 10, 80, 40])
    _propagate(first, vid)
    before = {t: _labels(first.get(f"/api/videos/{vid}/frames/{t}/masks").json()) for t in range(NUM_FRAMES)}
    first.__exit__(None, None, None)

    again = client_for(video_folder)  # a new server on the same folder
    record = next(v for v in again.get("/api/videos").json() if v["id"] == vid)
    assert (record["num_objects"], record["num_masked_frames"]) == (2, NUM_FRAMES)
    session = again.get(f"/api/videos/{vid}").json()
    assert session["prompted_frames"] == [0, 2] and session["propagation"]["state"] == "idle"
    for t in range(NUM_FRAMES):
        np.testing.assert_array_equal(_labels(again.get(f"/api/videos/{vid}/frames/{t}/masks").json()), before[t])
    # Its tracker is rebuilt from the stored prompts: a correction on frame 3 and propagation work,
    # and object 2's tracked pixels on frame 3 (no mask of it in the rebuilt state) are kept.
    got = _labels(_prompt(again, vid, 3, obj_id=1, points=[[40, 30]], labels=[1]))
    keep = (before[3] == 2) & (got != 1)
    assert (got[keep] == 2).all()
    _propagate(again, vid)
    assert len(again.get(f"/api/videos/{vid}").json()["masked_frames"]) == NUM_FRAMES


def test_bad_requests_name_what_is_wrong(client_for, video_folder):
    client = client_for(video_folder)
    vid = _clip_id(client)
    cases = [
        ("get", "/api/videos/nope", None, 404, "no video with id 'nope'"),
        ("get", "/api/videos/nope/frames/0", None, 404, "no video"),
        ("get", f"/api/videos/{vid}/frames/{NUM_FRAMES}", None, 404, f"it has {NUM_FRAMES} frames"),
        ("get", f"/api/videos/{vid}/frames/-1/masks", None, 404, "outside video clip"),
        ("post", f"/api/videos/{vid}/frames/99/prompts", {"points": [[1, 1]], "labels": [1]}, 404, "outside"),
        ("post", f"/api/videos/{vid}/frames/0/prompts", {}, 422, "the prompt is empty"),
        ("post", f"/api/videos/{vid}/frames/0/prompts", {"points": [[1, 1]], "labels": [1, 0]}, 422, "labels"),
        ("post", f"/api/videos/{vid}/frames/0/prompts", {"points": [[500, 1]], "labels": [1]}, 422,
         "outside the frame"),
        ("post", f"/api/videos/{vid}/frames/0/prompts", {"box": [50, 10, 40, 20]}, 422, "x0 < x1"),
        ("post", f"/api/videos/{vid}/frames/0/prompts", {"obj_id": 7, "points": [[1, 1]], "labels": [1]}, 422,
         "has no object 7"),
        ("delete", f"/api/videos/{vid}/objects/7", None, 404, "has no object 7"),
        ("delete", f"/api/videos/{vid}/frames/0/prompts?obj_id=7", None, 404, "has no object 7"),
        ("post", f"/api/videos/{vid}/propagate", {}, 409, "no objects yet"),
        ("post", f"/api/videos/{vid}/propagate", {"direction": "sideways"}, 422, None),
    ]
    for method, url, body, status, message in cases:
        r = client.request(method.upper(), url, json=body)
        assert r.status_code == status, (url, body, r.text)
        if message is not None:
            assert message in r.json()["detail"], (url, r.json())

    # Edits while the video is being propagated are refused (the job waits for the model here).
    _prompt(client, vid, 0, points=[[20, 30]], labels=[1])
    service = client.app.state.videos
    with service.model_lock:
        assert client.post(f"/api/videos/{vid}/propagate", json={}).status_code == 202
        r = client.post(f"/api/videos/{vid}/frames/1/prompts", json={"obj_id": 1, "points": [[1, 1]], "labels": [1]})
        assert r.status_code == 409 and "being propagated" in r.json()["detail"]
        assert client.post(f"/api/videos/{vid}/propagate", json={}).status_code == 409
    assert client.delete(f"/api/videos/{vid}/propagate").json()["state"] in ("cancelled", "done")


def test_sam1_model_can_view_but_not_track(client_for, video_folder, tiny_model):
    client = client_for(video_folder, model=tiny_model)
    vid = _clip_id(client)
    assert client.get(f"/api/videos/{vid}/frames/0").status_code == 200
    assert client.get(f"/api/videos/{vid}/frames/0/masks").json()["source"] == "none"
    for method, url, body in [("post", f"/api/videos/{vid}/frames/0/prompts", {"points": [[1, 1]], "labels": [1]}),
                              ("post", f"/api/videos/{vid}/propagate", {})]:
        r = client.request(method.upper(), url, json=body)
        assert r.status_code == 409 and "video mode needs a SAM 2 model" in r.json()["detail"]


def test_openapi_documents_every_video_answer(client_for, video_folder):
    spec = client_for(video_folder).get("/openapi.json").json()
    paths = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/videos")}
    assert len(paths) == 8
    binary = {("/api/videos/{video_id}/frames/{frame_idx}", "get"): "image/jpeg",
              ("/api/videos/{video_id}/export/davis.zip", "get"): "application/zip"}
    for path, ops in paths.items():
        for method, op in ops.items():
            ok = op["responses"]["202" if (path, method) == ("/api/videos/{video_id}/propagate", "post") else "200"]
            if (path, method) in binary:
                assert list(ok["content"]) == [binary[path, method]], (path, method)
            else:
                assert list(ok["content"]) == ["application/json"], (path, method)
            if "{video_id}" in path:
                assert {"404", "409", "422"} <= set(op["responses"]), (path, method, list(op["responses"]))
            for code, answer in op["responses"].items():
                if code.startswith("4"):  # every error is documented as the JSON it is
                    assert list(answer["content"]) == ["application/json"], (path, method, code)
                    assert answer["description"] not in ("", "Successful Response"), (path, method, code)


def test_kill_9_during_propagation_loses_nothing_written(client_for, tmp_path):
    """A real `samkit serve` process killed with SIGKILL while it propagates: every stored mask is a
    whole PNG, the prompts are intact, and a new server shows them and propagates the rest."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    num_frames = 60
    folder = tmp_path / "served"
    write_frame_folder(folder / "clip", synthetic_frames(num_frames))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    src = Path(__file__).resolve().parents[2] / "src"
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "samkit", "serve", str(folder), "--model", "sam2_test_tiny",
                             "--device", "cpu", "--port", str(port), "--static-dir", str(tmp_path / "none")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                videos = httpx.get(f"{base}/api/videos", timeout=5).json()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.time() > deadline:
                    out = proc.stdout.read() if proc.poll() is not None else ""
                    raise AssertionError(f"server did not start: {out}")
                time.sleep(0.3)
        vid = videos[0]["id"]
        r = httpx.post(f"{base}/api/videos/{vid}/frames/0/prompts", json={"points": [[20, 30]], "labels": [1]},
                       timeout=60)
        assert r.status_code == 200, r.text
        assert httpx.post(f"{base}/api/videos/{vid}/propagate", json={}, timeout=60).status_code == 202
        while (status := httpx.get(f"{base}/api/videos/{vid}/propagate", timeout=60).json())["frames_done"] < 5:
            assert status["state"] == "running", status
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done_before_kill = status["frames_done"]

    stored = folder / ".samkit" / "videos" / vid
    pngs = sorted((stored / "masks").glob("*.png"))
    assert done_before_kill <= len(pngs) < num_frames, "the server was killed mid-propagation"
    for png in pngs:
        with Image.open(png) as img:
            img.load()  # a truncated PNG raises here
            assert img.mode == "P" and img.size == (HW[1], HW[0])

    again = client_for(folder)
    session = again.get(f"/api/videos/{vid}").json()
    assert session["prompted_frames"] == [0] and session["masked_frames"] == [int(p.stem) for p in pngs]
    _propagate(again, vid)
    assert again.get(f"/api/videos/{vid}").json()["masked_frames"] == list(range(num_frames))
