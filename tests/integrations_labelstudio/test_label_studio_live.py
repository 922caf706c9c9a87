"""samkit's Label Studio backend driven through a real Label Studio (from .venv-labelstudio): the
test starts Label Studio on a free port (SQLite in a temp dir, local files served from a storage on
a subfolder of the document root) and `samkit label-studio` with a tiny random-weight model; the
projects, storages, tasks and annotations are made with label-studio-sdk, every click goes through
Label Studio's /api/ml/{id}/interactive-annotating, and brush masks are decoded with the sdk."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import numpy as np
import pytest
import torch

httpx = pytest.importorskip("httpx")
pytest.importorskip("cv2")

_spec = spec_from_file_location("ls_venv_helpers", Path(__file__).with_name("ls_venv.py"))
ls_venv = module_from_spec(_spec)
_spec.loader.exec_module(ls_venv)
sdk = ls_venv.sdk

TOKEN = "samkit-test-token-0123456789"
BRUSH_CONFIG = """<View><Image name="image" value="$image"/>
<KeyPointLabels name="kp" toName="image" smart="true"><Label value="cell" smart="true"/><Label value="blob" smart="true"/></KeyPointLabels>
<RectangleLabels name="rect" toName="image" smart="true"><Label value="cell" smart="true"/><Label value="blob" smart="true"/></RectangleLabels>
<BrushLabels name="brush" toName="image"><Label value="cell"/><Label value="blob"/></BrushLabels></View>"""
POLYGON_CONFIG = BRUSH_CONFIG.replace("BrushLabels", "PolygonLabels").replace('name="brush"', 'name="poly"')
AMG_ARGS = ["--amg-points-per-side", "4", "--amg-pred-iou-thresh", "0", "--amg-stability-thresh", "0",
            "--amg-max-masks", "5"]


def _backup_sqlite(src: Path, dst: Path) -> None:
    """Copy a live SQLite database consistently (SQLite's backup API), atomically into place."""
    tmp = dst.with_suffix(f".{os.getpid()}.tmp")
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(tmp)) as b:
        a.backup(b)
    os.replace(tmp, dst)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _images(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out = []
    for i, (h, w) in enumerate([(300, 400), (240, 320)]):
        img = (rng.random((h, w, 3)) * 40 + 100).astype(np.uint8)
        img[40:140, 50 + 20 * i : 190] = (220, 40, 40)
        yy, xx = np.mgrid[:h, :w]
        img[(yy - 180) ** 2 + (xx - 100) ** 2 < 40**2] = (30, 60, 230)
        Image.fromarray(img).save(folder / f"img{i}.png")
        out.append(img)
    return out


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    ls_venv.require_ls_venv()
    root = tmp_path_factory.mktemp("label_studio")
    docroot = root / "files"
    images = _images(docroot / "images")
    port = ls_venv.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(root / "data"), "DJANGO_DB": "sqlite",
           "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LOCAL_FILES_SERVING_ENABLED": "true",
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(docroot), "USE_DEFAULT_BANNED_SUBNETS": "false",
           "COLLECT_ANALYTICS": "false", "WEBHOOK_TIMEOUT": "30", "OMP_NUM_THREADS": "1"}
    log = root / "label_studio.log"
    template = ls_venv.LS_VENV / "samkit-test-template.sqlite3"
    if template.is_file():  # a migrated empty database: starts in seconds instead of a minute
        (root / "data").mkdir()
        shutil.copyfile(template, root / "data" / "label_studio.sqlite3")
    with open(log, "w") as out:
        proc = subprocess.Popen([str(ls_venv.LS_VENV / "bin" / "label-studio"), "start", "--no-browser",
                                 "--port", str(port), "--host", url, "--username", "test@samkit.dev",
                                 "--password", "samkit-test-pw", "--user-token", TOKEN],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    try:
        ls_venv.wait_up(url, proc, 240, log)
        if not template.is_file():
            _backup_sqlite(root / "data" / "label_studio.sqlite3", template)
        yield {"url": url, "token": TOKEN, "images_dir": docroot / "images", "images": images, "root": root}
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from samkit.build import build_sam, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(build_sam("tiny").eval(), tmp_path_factory.mktemp("ck") / "tiny.safetensors")


def _start_backend(root: Path, checkpoint: Path, name: str, *extra: str) -> tuple[subprocess.Popen, str, Path]:
    port = ls_venv.free_port()
    log = root / f"{name}.log"
    dataset = root / f"{name}_dataset"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "samkit", "label-studio", "--port", str(port), "--checkpoint",
                                 str(checkpoint), "--dataset-dir", str(dataset), "--cache-dir", str(root / "emb"),
                                 *AMG_ARGS, *extra], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    ls_venv.wait_up(f"http://127.0.0.1:{port}", proc, 120, log)
    return proc, f"http://127.0.0.1:{port}", dataset


@pytest.fixture(scope="module")
def backend(label_studio, checkpoint):
    proc, url, dataset = _start_backend(label_studio["root"], checkpoint, "backend")
    yield {"url": url, "dataset": dataset}
    _stop(proc)


def _project(label_studio, backend_url: str, config: str, title: str, storage: Path | None = None, **extra) -> dict:
    return sdk("project", url=label_studio["url"], token=TOKEN, title=title, label_config=config,
               storage_path=str(storage or label_studio["images_dir"]), ml_url=backend_url, **extra)


@pytest.fixture(scope="module")
def brush_project(label_studio, backend):
    out = _project(label_studio, backend["url"], BRUSH_CONFIG, "samkit brush",
                   extra_tasks=[{"image": "/data/upload/999/missing.png"}])
    assert "ml" in out, out
    return out


@pytest.fixture(scope="module")
def reference(checkpoint):
    """samkit's own predictor on the same checkpoint: what Label Studio's masks must equal."""
    from samkit.build import load_checkpoint
    from samkit.inference.predictor import SamPredictor

    return SamPredictor(load_checkpoint(checkpoint).eval())


def _task_image(label_studio, task: dict) -> np.ndarray:
    name = task["data"]["image"].split("d=")[-1].split("/")[-1]
    return label_studio["images"][int(name[3])]


def _click(x_pct, y_pct, h, w, positive=True, label="cell") -> dict:
    return {"type": "keypointlabels", "from_name": "kp", "to_name": "image", "original_width": w,
            "original_height": h, "image_rotation": 0, "is_positive": positive, "origin": "manual",
            "value": {"x": x_pct, "y": y_pct, "width": 0.5, "keypointlabels": [label]}}


def _interactive(label_studio, ml_id: int, task_id: int, regions: list[dict]) -> dict:
    r = httpx.post(f"{label_studio['url']}/api/ml/{ml_id}/interactive-annotating",
                   headers={"Authorization": f"Token {TOKEN}"}, json={"task": task_id, "context": {"result": regions}},
                   timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def _decode(tmp_path, regions: list[dict], h: int, w: int) -> np.ndarray:
    out = sdk("decode", rles=[r["value"]["rle"] for r in regions], height=h, width=w, out=str(tmp_path / "m.npy"))
    return np.load(out["saved"]) > 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def _reference_mask(reference, image, points_xy, labels, box=None) -> np.ndarray:
    reference.set_image(image)
    multimask = len(points_xy) == 1 and box is None
    masks, iou, _ = reference.predict(np.asarray(points_xy, np.float32) if len(points_xy) else None,
                                      np.asarray(labels) if len(labels) else None,
                                      None if box is None else np.asarray(box, np.float32), multimask_output=multimask)
    return masks[int(np.argmax(iou))]


def test_clicks_give_the_predictors_mask_as_brush_rle(label_studio, brush_project, reference, tmp_path):
    task = brush_project["tasks"][0]
    image = _task_image(label_studio, task)
    h, w = image.shape[:2]
    clicks = [_click(30.0, 30.0, h, w, label="blob")]
    data = _interactive(label_studio, brush_project["ml"], task["id"], clicks)["data"]
    assert [r["type"] for r in data["result"]] == ["brushlabels"]
    assert data["result"][0]["value"]["brushlabels"] == ["blob"] and data["result"][0]["from_name"] == "brush"
    got = _decode(tmp_path, data["result"], h, w)[0]
    want = _reference_mask(reference, image, [[0.30 * w, 0.30 * h]], [1])
    assert want.any() and _iou(got, want) >= 0.99

    # a negative click on the same object: still one mask, the predictor's mask for both clicks
    clicks.append(_click(60.0, 20.0, h, w, positive=False, label="blob"))
    data = _interactive(label_studio, brush_project["ml"], task["id"], clicks)["data"]
    assert len(data["result"]) == 1
    got2 = _decode(tmp_path, data["result"], h, w)[0]
    want2 = _reference_mask(reference, image, [[0.30 * w, 0.30 * h], [0.60 * w, 0.20 * h]], [1, 0])
    assert _iou(got2, want2) >= 0.99 and not np.array_equal(want2, want)


def test_smart_rectangle_gives_the_box_mask(label_studio, brush_project, reference, tmp_path):
    task = brush_project["tasks"][1]
    image = _task_image(label_studio, task)
    h, w = image.shape[:2]
    rect = {"type": "rectanglelabels", "from_name": "rect", "to_name": "image", "original_width": w,
            "original_height": h, "value": {"x": 10.0, "y": 15.0, "width": 50.0, "height": 40.0,
                                            "rectanglelabels": ["cell"]}}
    data = _interactive(label_studio, brush_project["ml"], task["id"], [rect])["data"]
    got = _decode(tmp_path, data["result"], h, w)[0]
    want = _reference_mask(reference, image, [], [], box=[0.1 * w, 0.15 * h, 0.6 * w, 0.55 * h])
    assert _iou(got, want) >= 0.99


def test_polygon_config_returns_polygons(label_studio, backend, reference):
    from samkit.integrations.label_studio.polygons import mask_to_polygons, polygon_to_mask

    project = _project(label_studio, backend["url"], POLYGON_CONFIG, "samkit polygons")
    task = project["tasks"][0]
    image = _task_image(label_studio, task)
    h, w = image.shape[:2]
    data = _interactive(label_studio, project["ml"], task["id"], [_click(30.0, 30.0, h, w)])["data"]
    assert data["result"] and {r["type"] for r in data["result"]} == {"polygonlabels"}
    assert all(r["from_name"] == "poly" and r["value"]["polygonlabels"] == ["cell"] for r in data["result"])
    got = np.zeros((h, w), bool)
    for region in data["result"]:
        got |= polygon_to_mask(region["value"]["points"], h, w)
    want = _reference_mask(reference, image, [[0.30 * w, 0.30 * h]], [1])
    # outer outlines, simplified to 1 px: holes filled and specks under 4 px dropped
    outlined = np.zeros((h, w), bool)
    for points in mask_to_polygons(want):
        outlined |= polygon_to_mask(points, h, w)
    assert _iou(got, outlined) >= 0.99 and (got & want).sum() >= 0.9 * want.sum()


def test_retrieve_predictions_pre_annotates_with_automatic_masks(label_studio, brush_project, checkpoint, tmp_path):
    from samkit.automatic import SamAutomaticMaskGenerator
    from samkit.build import load_checkpoint

    task = brush_project["tasks"][0]
    image = _task_image(label_studio, task)
    h, w = image.shape[:2]
    out = sdk("retrieve_predictions", url=label_studio["url"], token=TOKEN, project=brush_project["project"],
              tasks=[task["id"]])
    regions = out["predictions"][0][-1]
    assert 1 <= len(regions) <= 5 and all(r["value"]["brushlabels"] == ["cell"] for r in regions)
    got = _decode(tmp_path, regions, h, w)
    generator = SamAutomaticMaskGenerator(load_checkpoint(checkpoint).eval(), points_per_side=4, pred_iou_thresh=0,
                                          stability_score_thresh=0)
    want = [r["segmentation"] for r in generator.generate(image) if r["area"] >= 16][:5]
    assert len(got) == len(want) and all(_iou(g, m) >= 0.99 for g, m in zip(got, want))


def test_submitted_annotations_become_a_dataset(label_studio, brush_project, backend):
    from samkit.data.specs import DatasetSpec, build_dataset
    from samkit.integrations.label_studio.brush_rle import mask_to_rle

    task = brush_project["tasks"][0]
    image = _task_image(label_studio, task)
    h, w = image.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[40:140, 50:190] = True
    region = {"id": "sub1", "type": "brushlabels", "from_name": "brush", "to_name": "image", "original_width": w,
              "original_height": h, "value": {"format": "rle", "rle": mask_to_rle(mask), "brushlabels": ["cell"]}}
    ann = sdk("annotate", url=label_studio["url"], token=TOKEN, task=task["id"], result=[region])["annotation"]
    sample = build_dataset(DatasetSpec(str(backend["dataset"])))[0]
    assert np.array_equal(sample.image_rgb, image) and np.array_equal(sample.masks[0].astype(bool), mask)

    mask2 = np.zeros((h, w), bool)
    mask2[160:220, 60:140] = True
    region["value"]["rle"] = mask_to_rle(mask2)
    sdk("update_annotation", url=label_studio["url"], token=TOKEN, annotation=ann, result=[region])
    sample = build_dataset(DatasetSpec(str(backend["dataset"])))[0]
    assert len(sample.masks) == 1 and np.array_equal(sample.masks[0].astype(bool), mask2)


def test_config_without_mask_control_is_refused_with_a_clear_message(label_studio, backend):
    config = '<View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="a"/></Choices></View>'
    out = _project(label_studio, backend["url"], config, "samkit wrong config")
    assert "ml" not in out and "no <BrushLabels> or <PolygonLabels>" in out["ml_error"]


def test_image_label_studio_cannot_serve_is_a_clear_error(label_studio, brush_project):
    missing = next(t for t in brush_project["tasks"] if "missing" in t["data"]["image"])
    out = _interactive(label_studio, brush_project["ml"], missing["id"], [_click(50.0, 50.0, 100, 100)])
    assert "data" not in out and "could not serve the file /data/upload/999/missing.png" in out["errors"][0]


def test_kill_9_loses_no_submission(label_studio, checkpoint):
    from samkit.data.specs import DatasetSpec, build_dataset
    from samkit.integrations.label_studio.brush_rle import mask_to_rle

    proc, url, dataset = _start_backend(label_studio["root"], checkpoint, "killed")
    try:
        project = _project(label_studio, url, BRUSH_CONFIG, "samkit kill -9")
        task = project["tasks"][0]
        h, w = _task_image(label_studio, task).shape[:2]
        mask = np.zeros((h, w), bool)
        mask[10:60, 20:90] = True
        region = {"id": "k1", "type": "brushlabels", "from_name": "brush", "to_name": "image", "original_width": w,
                  "original_height": h, "value": {"format": "rle", "rle": mask_to_rle(mask), "brushlabels": ["cell"]}}
        sdk("annotate", url=label_studio["url"], token=TOKEN, task=task["id"], result=[region])
        os.killpg(proc.pid, signal.SIGKILL)  # the moment Label Studio has its answer
        proc.wait()
        sample = build_dataset(DatasetSpec(str(dataset)))[0]
        assert np.array_equal(sample.masks[0].astype(bool), mask)
        assert not list(dataset.rglob("*.tmp"))
    finally:
        _stop(proc)


VIDEO_CONFIG = """<View><Labels name="videoLabels" toName="video"><Label value="disc"/></Labels>
<Video name="video" value="$video" framerate="10"/><VideoRectangle name="box" toName="video"/></View>"""


def test_sam2_tracks_a_video_box_through_label_studio(label_studio):
    pytest.importorskip("av")
    from synthetic_video import synthetic_frames, write_video

    from samkit.build import save_checkpoint
    from samkit.builder_sam2 import build_sam2_model

    root = label_studio["root"]
    videos = root / "files" / "videos"
    videos.mkdir()
    write_video(videos / "clip.mp4", synthetic_frames(6))
    torch.manual_seed(0)
    ck = save_checkpoint(build_sam2_model("sam2_test_tiny").eval(), root / "sam2_tiny.safetensors")
    proc, url, _ = _start_backend(root, ck, "sam2_backend", "--video-max-frames", "3")
    try:
        project = _project(label_studio, url, VIDEO_CONFIG, "samkit video", storage=videos, regex=r".*\.mp4$")
        assert "ml" in project, project
        (task,) = project["tasks"]
        key = {"frame": 2, "enabled": True, "rotation": 0, "time": 0.1, "x": 10.0, "y": 20.0, "width": 30.0,
               "height": 25.0}
        region = {"id": "trk1", "type": "videorectangle", "from_name": "box", "to_name": "video",
                  "value": {"framesCount": 6, "duration": 0.6, "sequence": [key], "labels": ["disc"]}}
        data = _interactive(label_studio, project["ml"], task["id"], [region])["data"]
        (out,) = data["result"]
        assert out["type"] == "videorectangle" and out["value"]["sequence"][0] == key
        assert [k["frame"] for k in out["value"]["sequence"][1:]] == [3, 4, 5]
    finally:
        _stop(proc)
