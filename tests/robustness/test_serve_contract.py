"""The HTTP contract of `samkit serve`: schemathesis (all checks) against the app, samkit's own error
messages with the configured limits, `Allow` on 405, and no lost update when two clients save.

The schemathesis run covers every operation of the OpenAPI (images, annotations, exports, the
ONNX decoder, server decoding and the video endpoints), once with a SAM 1 model (the page decodes:
GET /models/decoder.onnx answers the file) and once with a SAM 2 model (server decoding, video
tracking). Its phases are those of `st run --checks all`: examples, coverage, fuzzing, stateful.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from robustness.broken_files import png_bomb
from robustness.schemathesis_run import expected_refusals, schemathesis_failures
from synthetic_video import synthetic_frames, write_frame_folder

# Examples per operation and phase; the whole module stays under ~2 minutes on a 2-core CI machine.
MAX_EXAMPLES = int(os.environ.get("SAMKIT_SCHEMATHESIS_EXAMPLES", "25"))
# Requests the schema cannot tell are unusable: a prompt outside the image or with a label per
# point missing, an RLE whose runs do not add up, a file that is not a decodable image. The OpenAPI
# documents these answers (422, 413, 415); for schema-valid data they are the expected refusals.
SEMANTIC = ["2xx", "3xx", "404", "409", "422"]
EXPECTED_REFUSALS = {
    "POST /api/images": ["2xx", "409", "413", "415"],
    "POST /api/images/{image_id}/decode": SEMANTIC,
    "POST /api/images/{image_id}/decode_text": SEMANTIC,  # an unknown word / no text path: 422
    "PUT /api/images/{image_id}/annotations": SEMANTIC,
    "POST /api/videos/{video_id}/frames/{frame_idx}/prompts": SEMANTIC,
}


def _png(h: int, w: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _served_folder(root: Path) -> Path:
    folder = root / "served"
    write_frame_folder(folder / "clip", synthetic_frames(4))
    Image.fromarray(synthetic_frames(1)[0]).save(folder / "photo.png")
    return folder


def _app(model, root: Path, **kwargs):
    from samkit.serve import create_app

    static = root / "static"
    static.mkdir(exist_ok=True)
    (static / "index.html").write_text("<!doctype html><title>samkit test page</title>")
    return create_app(_served_folder(root), model, static_dir=static, export_decoder_on_start=False, **kwargs)


def _schemathesis_failures(app) -> tuple[list[str], int]:
    # DELETE .../propagate cancels a propagation; the video and its propagation status stay, by
    # design, so a GET after it answering 200 is not a use after free.
    keep_after_cancel = [{"include-name": f"{method} /api/videos/{{video_id}}/propagate",
                          "checks": {"use_after_free": {"enabled": False}}} for method in ("DELETE", "GET")]
    return schemathesis_failures(app, MAX_EXAMPLES, expected_refusals(EXPECTED_REFUSALS) + keep_after_cancel)


@pytest.fixture(scope="module")
def sam2_model(one_torch_thread):
    from samkit.build import load_model

    torch.manual_seed(0)
    return load_model("sam2_test_tiny", device="cpu")


def test_schemathesis_all_checks_sam1(tiny_model, tmp_path):
    decoder = tmp_path / "decoder.onnx"  # served as bytes; its content is not what this run checks
    decoder.write_bytes(b"\x08\x07" * 64)
    failures, checks = _schemathesis_failures(_app(tiny_model, tmp_path, decoder_onnx=decoder))
    assert checks > 1000
    assert not failures, "\n".join(failures)


def test_schemathesis_all_checks_sam2(sam2_model, tmp_path):
    app = _app(sam2_model, tmp_path)
    # The page's SAM 2 decoder is exported on its first request; export it before the run, as the SAM 1
    # run is given its decoder file, so that a busy machine's export time is not a request timeout.
    app.state.sam2_decoder_file.start()
    app.state.sam2_decoder_file.wait(timeout=600)
    failures, checks = _schemathesis_failures(app)
    assert checks > 1000
    assert not failures, "\n".join(failures)


@pytest.fixture
def client(tiny_model, tmp_path):
    from fastapi.testclient import TestClient

    from samkit.serve import UploadLimits

    with TestClient(_app(tiny_model, tmp_path, limits=UploadLimits(max_bytes=2 * 2**20, max_pixels=1_000_000))) as c:
        yield c


def test_errors_are_samkit_messages_with_the_configured_limits(client, tmp_path):
    def upload(name: str, data: bytes):
        r = client.post("/api/images", files={"file": (name, data, "image/png")})
        assert r.headers["content-type"] == "application/json" and set(r.json()) <= {"detail", "errors"}
        return r.status_code, r.json()["detail"]

    flat = io.BytesIO()
    Image.new("RGB", (1001, 1000), (90, 120, 30)).save(flat, "PNG")
    status, detail = upload("wide.png", flat.getvalue())  # 1.001 MP: our limit, read from the header
    assert status == 413 and "the limit is 1.0 MP (samkit serve --max-megapixels)" in detail, detail
    png_bomb(tmp_path / "bomb.png", 20000, 10000)  # 200 MP: over PIL's own limit too
    status, detail = upload("bomb.png", (tmp_path / "bomb.png").read_bytes())
    # Over PIL's limit its check fires first (or ours, if an earlier load_image raised PIL's): samkit's words either way.
    assert status == 413 and detail.startswith("image is ") and "200.0 MP; the limit is 1.0 MP (samkit serve " \
        "--max-megapixels)" in detail, detail
    assert "decompression" not in detail.lower()
    status, detail = upload("big.png", b"\x89PNG" + bytes(3 * 2**20))
    assert status == 413 and "the limit is 2.0 MB (samkit serve --max-upload-mb)" in detail, detail
    for junk in (b"GIF89a nonsense", b"\x00" * 100, b"hello"):
        status, detail = upload("junk.png", junk)
        assert status == 415 and detail.startswith("not a readable image") and " at 0x" not in detail, detail
    r = client.post("/api/images/1/decode", json={"points": [[1, 2, 3]], "labels": [1]})
    assert r.status_code == 422 and r.json()["detail"].startswith("invalid request: body.points.0:")
    assert r.json()["errors"][0]["loc"] == ["body", "points", 0]


def test_405_lists_every_method_of_the_path(client):
    for method, path, allowed in [("DELETE", "/api/images", "GET, HEAD, POST"),
                                  ("OPTIONS", "/api/images/1/embedding", "GET, HEAD, POST"),
                                  ("PATCH", "/api/images/1/annotations", "GET, HEAD, PUT"),
                                  ("PUT", "/api/videos/abc/propagate", "DELETE, GET, HEAD, POST"),
                                  ("POST", "/index.html", "GET, HEAD")]:
        r = client.request(method, path)
        assert r.status_code == 405 and r.headers["allow"] == allowed, (method, path, r.headers.get("allow"))
        assert r.json()["detail"] == f"{method} is not allowed on {path}; allowed: {allowed}"
    assert client.post("/api/nothing/here").status_code == 404


def test_openapi_documents_binary_answers_and_one_error_model(client):
    spec = client.get("/openapi.json").json()
    binary = {("/api/images/{image_id}/file", "get"): {"image/jpeg", "image/png", "image/webp"},
              ("/api/images/{image_id}/embedding", "get"): {"application/octet-stream"},
              ("/api/images/{image_id}/decode", "post"): {"application/octet-stream"},
              ("/models/decoder.onnx", "get"): {"application/octet-stream"},
              ("/api/export/masks.zip", "get"): {"application/zip"}}
    for (path, method), media in binary.items():
        assert set(spec["paths"][path][method]["responses"]["200"]["content"]) == media, path
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code, answer in op["responses"].items():
                if code[0] in "45":
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, \
                        (path, method, code)
    assert "HTTPValidationError" not in json.dumps(spec)


def _rle(h: int, w: int, rows: slice) -> dict:
    m = np.zeros((h, w), np.uint8)
    m[rows, : w // 2] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    return {"size": [h, w], "counts": rle["counts"].decode()}


def test_two_clients_cannot_lose_an_update(client):
    image = next(im for im in client.get("/api/images").json() if im["file_name"] == "photo.png")
    url = f"/api/images/{image['id']}/annotations"
    h, w = image["height"], image["width"]
    first = client.get(url)
    assert first.json()["version"] == 0 and first.headers["etag"] == '"0"'
    # Two pages open the image (both read version 0); the first saves, the second saves later.
    a = client.put(url, json=[{"category": "cat", "segmentation": _rle(h, w, slice(0, 5))}], headers={"If-Match": '"0"'})
    assert a.status_code == 200 and a.headers["etag"] == '"1"'
    b = client.put(url, json=[{"category": "dog", "segmentation": _rle(h, w, slice(5, 9))}], headers={"If-Match": '"0"'})
    assert b.status_code == 409 and "saved by another client" in b.json()["detail"]
    now = client.get(url).json()
    assert [x["category"] for x in now["annotations"]] == ["cat"] and now["version"] == 1  # nothing lost
    # The second page merges (keeps "cat", adds "dog") and saves over version 1, in the body form.
    merged = now["annotations"] + [{"category": "dog", "segmentation": _rle(h, w, slice(5, 9))}]
    c = client.put(url, json={"annotations": merged, "version": 1})
    assert c.status_code == 200 and [x["category"] for x in c.json()] == ["cat", "dog"] and c.headers["etag"] == '"2"'
    # Without a version the last save wins (scripts that own the image).
    assert client.put(url, json=[]).status_code == 200 and client.get(url).json()["version"] == 3
    assert client.put(url, json=[], headers={"If-Match": "yesterday"}).status_code == 422


def test_concurrent_saves_from_threads_one_wins_per_version(client):
    from concurrent.futures import ThreadPoolExecutor

    image = next(im for im in client.get("/api/images").json() if im["file_name"] == "photo.png")
    url = f"/api/images/{image['id']}/annotations"
    rle = _rle(image["height"], image["width"], slice(0, 3))

    def save(i: int) -> int:
        return client.put(url, json=[{"category": f"c{i}", "segmentation": rle}], headers={"If-Match": '"0"'}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(save, range(8)))
    assert sorted(codes) == [200] + [409] * 7
    assert client.get(url).json()["version"] == 1


def test_a_folder_annotated_before_versions_opens(tiny_model, tmp_path):
    """An annotations.sqlite written before the version column existed gets it (at 0) on start."""
    from fastapi.testclient import TestClient

    from samkit.serve.store import Store

    folder = tmp_path / "old"
    folder.mkdir()
    Image.open(io.BytesIO(_png(20, 30))).save(folder / "a.png")
    db = folder / ".samkit" / "annotations.sqlite"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.executescript("CREATE TABLE images (id INTEGER PRIMARY KEY AUTOINCREMENT, file_name TEXT NOT NULL UNIQUE, "
                           "width INTEGER, height INTEGER, file_size INTEGER, mtime_ns INTEGER, pixel_key TEXT);"
                           "INSERT INTO images (file_name, width, height) VALUES ('a.png', 30, 20);")
    Store(db)
    from samkit.serve import create_app

    with TestClient(create_app(folder, tiny_model, static_dir=tmp_path, export_decoder_on_start=False)) as c:
        (image,) = c.get("/api/images").json()
        assert c.get(f"/api/images/{image['id']}/annotations").json()["version"] == 0
    time.sleep(0)  # the store closed its connections with the client
