"""The backend's HTTP server on its own (no Label Studio): a SAM 2 model answering a click on an
image served over HTTP, and errors carried in the status line's reason phrase (what Label Studio shows)."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest
import torch

httpx = pytest.importorskip("httpx")
pytest.importorskip("cv2")

CONFIG = """<View><Image name="image" value="$image"/>
<KeyPointLabels name="kp" toName="image" smart="true"><Label value="cell" smart="true"/></KeyPointLabels>
<BrushLabels name="brush" toName="image"><Label value="cell"/></BrushLabels></View>"""


@pytest.fixture(scope="module")
def sam2_model(one_torch_thread):
    from samkit.builder_sam2 import build_sam2_model

    torch.manual_seed(0)
    return build_sam2_model("sam2_test_tiny").eval()


def _serve(server) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def servers(sam2_model, tmp_path_factory, synthetic_image):
    from PIL import Image

    from samkit.integrations.label_studio.app import create_server
    from samkit.integrations.label_studio.backend import LabelStudioBackend
    from samkit.integrations.label_studio.dataset_writer import DatasetWriter
    from samkit.integrations.label_studio.segmenter import Segmenter

    root = tmp_path_factory.mktemp("ls_sam2")
    Image.fromarray(synthetic_image).save(root / "photo.png")
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(root)))
    backend = LabelStudioBackend(Segmenter(sam2_model, cache_dir=root / "emb"), DatasetWriter(root / "ds"), "samkit-test")
    api = create_server(backend, "127.0.0.1", 0)
    yield _serve(api), _serve(files), root
    api.shutdown()
    files.shutdown()


def _predict(api: str, image_url: str, clicks: list[tuple[float, float, bool]], hw: tuple[int, int]) -> httpx.Response:
    regions = [{"type": "keypointlabels", "original_width": hw[1], "original_height": hw[0], "is_positive": positive,
                "value": {"x": x, "y": y, "width": 1, "keypointlabels": ["cell"]}} for x, y, positive in clicks]
    return httpx.post(f"{api}/predict", json={"tasks": [{"id": 1, "data": {"image": image_url}}], "project": "1.0",
                                              "label_config": CONFIG, "params": {"context": {"result": regions}}},
                      timeout=120)


def test_sam2_click_over_http_equals_the_sam2_predictor(servers, sam2_model, synthetic_image):
    from samkit.inference.sam2_predictor import SAM2ImagePredictor
    from samkit.integrations.label_studio.brush_rle import rle_to_mask

    api, files, _ = servers
    assert httpx.post(f"{api}/setup", json={"project": "1.0", "schema": CONFIG}).json() == {"model_version": "samkit-test"}
    h, w = synthetic_image.shape[:2]
    for clicks in ([(35.0, 30.0, True)], [(35.0, 30.0, True), (80.0, 80.0, False)]):
        r = _predict(api, f"{files}/photo.png", clicks, (h, w))
        assert r.status_code == 200, r.text
        (result,) = r.json()["results"]
        got = rle_to_mask(result["result"][0]["value"]["rle"], h, w)
        predictor = SAM2ImagePredictor(sam2_model)
        predictor.set_image(synthetic_image)
        pts = np.array([[x / 100 * w, y / 100 * h] for x, y, _ in clicks], np.float32)
        masks, iou, _ = predictor.predict(pts, np.array([int(p) for *_, p in clicks]),
                                          multimask_output=len(clicks) == 1)
        assert np.array_equal(got, masks[int(np.argmax(iou))])


def test_errors_are_in_the_reason_phrase(servers, synthetic_image):
    api, files, _ = servers
    r = httpx.post(f"{api}/setup", json={"project": "2.0", "schema": '<View><Image name="i" value="$i"/></View>'})
    assert r.status_code == 400 and "no <BrushLabels> or <PolygonLabels>" in r.reason_phrase
    r = _predict(api, f"{files}/absent.png", [(50.0, 50.0, True)], synthetic_image.shape[:2])
    assert r.status_code == 400 and "HTTP 404" in r.reason_phrase and "absent.png" in r.json()["error"]
    assert httpx.get(f"{api}/health").json()["status"] == "UP"


VIDEO_CONFIG = """<View><Labels name="videoLabels" toName="video"><Label value="disc"/></Labels>
<Video name="video" value="$video" framerate="10"/><VideoRectangle name="box" toName="video"/></View>"""


def test_video_box_is_tracked_by_sam2(servers, sam2_model):
    pytest.importorskip("av")
    from synthetic_video import synthetic_frames, write_video

    from samkit.video.build_video import video_predictor_from_model

    api, files, root = servers
    frames = synthetic_frames(6)
    write_video(root / "clip.mp4", frames)
    h, w = frames[0].shape[:2]
    assert httpx.post(f"{api}/setup", json={"project": "3.0", "schema": VIDEO_CONFIG}).status_code == 200
    key = {"frame": 2, "enabled": True, "rotation": 0, "time": 0.1, "x": 10.0, "y": 20.0, "width": 30.0, "height": 25.0}
    region = {"id": "trk1", "type": "videorectangle", "from_name": "box", "to_name": "video",
              "value": {"framesCount": 6, "duration": 0.6, "sequence": [key], "labels": ["disc"]}}
    r = httpx.post(f"{api}/predict", json={"tasks": [{"id": 9, "data": {"video": f"{files}/clip.mp4"}}], "project": "3.0",
                                           "label_config": VIDEO_CONFIG, "params": {"context": {"result": [region]}}},
                   timeout=300)
    assert r.status_code == 200, r.text
    (out,) = r.json()["results"][0]["result"]
    assert out["type"] == "videorectangle" and out["id"] == "trk1" and out["value"]["labels"] == ["disc"]
    sequence = out["value"]["sequence"]
    assert sequence[0] == key and [k["frame"] for k in sequence[1:]] == [3, 4, 5, 6][: len(sequence) - 1]

    # the same box prompt through samkit's video predictor directly: the same boxes
    predictor = video_predictor_from_model(sam2_model)
    with torch.inference_mode():
        state = predictor.init_state(str(root / "clip.mp4"))
        box = np.array([0.1 * w, 0.2 * h, 0.4 * w, 0.45 * h], np.float32)
        predictor.add_new_points_or_box(state, 1, 1, box=box)
        want = {}
        for idx, _, logits in predictor.propagate_in_video(state, start_frame_idx=1):
            mask = (logits[0, 0] > 0).numpy()
            if idx > 1 and mask.any():
                ys, xs = np.nonzero(mask)
                want[idx + 1] = [100 * xs.min() / w, 100 * ys.min() / h, 100 * (xs.max() - xs.min() + 1) / w,
                                 100 * (ys.max() - ys.min() + 1) / h]
    got = {k["frame"]: [k["x"], k["y"], k["width"], k["height"]] for k in sequence[1:]}
    assert sorted(got) == sorted(want) and all(got[f] == pytest.approx(want[f]) for f in want)


def test_video_with_a_sam1_model_says_to_use_sam2(tiny_model):
    from samkit.integrations.label_studio.video_tracking import VideoBoxPrompt, VideoTracker

    with pytest.raises(Exception, match="--model sam2"):
        VideoTracker(tiny_model).track(b"", [VideoBoxPrompt(0, np.zeros(4, np.float32))])
