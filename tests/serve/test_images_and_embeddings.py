"""Listing, uploads with limits, served files, embeddings (cache, progress, float16), headers."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from samkit.serve import UploadLimits


def _png(h: int, w: int, seed: int = 1) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_list_images_with_oriented_sizes(make_client, image_folder):
    client = make_client(image_folder)
    images = client.get("/api/images").json()
    by_name = {im["file_name"]: im for im in images}
    assert set(by_name) == {"plain.png", "sub/rotated.jpg"}
    assert (by_name["plain.png"]["width"], by_name["plain.png"]["height"]) == (160, 120)
    assert (by_name["sub/rotated.jpg"]["width"], by_name["sub/rotated.jpg"]["height"]) == (200, 90)
    assert all(im["num_annotations"] == 0 and im["embedded"] is False for im in images)
    # ids are stable strings across listings
    assert [im["id"] for im in client.get("/api/images").json()] == [im["id"] for im in images]


def test_image_file_is_what_samkit_sees(make_client, image_folder):
    client = make_client(image_folder)
    by_name = {im["file_name"]: im for im in client.get("/api/images").json()}
    plain = client.get(f"/api/images/{by_name['plain.png']['id']}/file")
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/png"
    assert plain.content == (image_folder / "plain.png").read_bytes()  # served as is
    rotated = client.get(f"/api/images/{by_name['sub/rotated.jpg']['id']}/file")
    assert rotated.headers["content-type"] == "image/png"  # EXIF-rotated: re-encoded upright
    assert Image.open(io.BytesIO(rotated.content)).size == (200, 90)
    assert client.get("/api/images/9999/file").status_code == 404
    assert client.get("/api/images/abc/file").status_code == 404


def test_upload_good_duplicate_and_name_clash(make_client, tmp_path):
    folder = tmp_path / "up"
    client = make_client(folder)
    first = client.post("/api/images", files={"file": ("my photo.png", _png(30, 40), "image/png")})
    assert first.status_code == 200, first.text
    rec = first.json()
    assert rec["file_name"] == "my_photo.png" and (rec["width"], rec["height"]) == (40, 30)
    assert (folder / "my_photo.png").read_bytes() == _png(30, 40)
    again = client.post("/api/images", files={"file": ("my photo.png", _png(30, 40), "image/png")})
    assert again.json()["id"] == rec["id"]  # same bytes: no duplicate
    other = client.post("/api/images", files={"file": ("my photo.png", _png(30, 40, seed=2), "image/png")})
    assert other.json()["file_name"] == "my_photo-1.png"  # never overwrites
    assert (folder / "my_photo.png").read_bytes() == _png(30, 40)
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["my_photo-1.png", "my_photo.png"]
    assert len(client.get("/api/images").json()) == 2


def test_upload_limits_and_non_images(make_client, tmp_path):
    folder = tmp_path / "up"
    client = make_client(folder, limits=UploadLimits(max_bytes=20_000, max_pixels=50 * 50))
    too_big = client.post("/api/images", files={"file": ("big.png", _png(150, 150), "image/png")})
    assert too_big.status_code == 413 and "limit" in too_big.json()["detail"]
    too_many_px = client.post("/api/images", files={"file": ("wide.png", _png(10, 300), "image/png")})
    assert too_many_px.status_code == 413 and "MP" in too_many_px.json()["detail"]
    text = client.post("/api/images", files={"file": ("a.png", b"hello, not an image", "image/png")})
    assert text.status_code == 415 and "not a readable image" in text.json()["detail"]
    gif = io.BytesIO()
    Image.new("P", (5, 5)).save(gif, "GIF")
    assert client.post("/api/images", files={"file": ("a.gif", gif.getvalue(), "image/gif")}).status_code == 415
    truncated = _png(40, 40)[:-40]
    assert client.post("/api/images", files={"file": ("t.png", truncated, "image/png")}).status_code == 415
    assert not folder.exists() or not any(p.is_file() for p in folder.iterdir())


def test_upload_refused_from_content_length_before_reading(make_client, tmp_path):
    client = make_client(tmp_path / "up", limits=UploadLimits(max_bytes=1000))
    body = b"x" * 200_000
    r = client.post("/api/images", content=body,
                    headers={"content-type": "multipart/form-data; boundary=zzz"})
    assert r.status_code == 413


def test_embedding_state_machine_cache_and_float16(make_client, image_folder, tiny_model, wait_ready):
    from samkit.image_io import load_image
    from samkit.inference.predictor import SamPredictor

    client = make_client(image_folder)
    image_id = next(im["id"] for im in client.get("/api/images").json() if im["file_name"] == "sub/rotated.jpg")
    assert client.get(f"/api/images/{image_id}/embedding/status").json()["state"] == "idle"
    assert client.get(f"/api/images/{image_id}/embedding").status_code == 409
    started = client.post(f"/api/images/{image_id}/embedding").json()
    assert started["state"] in ("queued", "encoding", "ready")
    seen = wait_ready(client, image_id)
    assert seen[-1] == {"state": "ready", "progress": 1.0, "error": None}
    progress = [s["progress"] for s in seen if s["state"] == "encoding"]
    assert progress == sorted(progress)
    r = client.get(f"/api/images/{image_id}/embedding")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-embedding-shape"] == "1,64,16,16"
    got = np.frombuffer(r.content, dtype="<f2").reshape(1, 64, 16, 16)
    predictor = SamPredictor(tiny_model)
    predictor.set_image(load_image(image_folder / "sub" / "rotated.jpg"))
    want = predictor.get_image_embedding().numpy()
    np.testing.assert_allclose(got.astype(np.float32), want, atol=2e-3 * np.abs(want).max() + 1e-3)
    assert {im["file_name"]: im["embedded"] for im in client.get("/api/images").json()}["sub/rotated.jpg"]
    assert list((image_folder / ".samkit" / "embeddings").rglob("*.safetensors"))


def test_embedding_computed_once_per_content(make_client, image_folder, tiny_model, wait_ready):
    client = make_client(image_folder)
    image_id = next(im["id"] for im in client.get("/api/images").json() if im["file_name"] == "plain.png")
    client.post(f"/api/images/{image_id}/embedding")
    wait_ready(client, image_id)
    # A new server on the same folder answers from the disk cache without running the encoder.
    calls = []
    handle = tiny_model.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        client2 = make_client(image_folder)
        assert client2.get(f"/api/images/{image_id}/embedding/status").json()["state"] == "ready"
        assert client2.post(f"/api/images/{image_id}/embedding").json()["state"] == "ready"
        assert client2.get(f"/api/images/{image_id}/embedding").status_code == 200
    finally:
        handle.remove()
    assert calls == []


def test_encoding_error_is_reported(make_client, image_folder, wait_ready):
    client = make_client(image_folder)
    image_id = next(im["id"] for im in client.get("/api/images").json() if im["file_name"] == "plain.png")
    (image_folder / "plain.png").write_bytes(b"broken now")
    client.post(f"/api/images/{image_id}/embedding")
    final = wait_ready(client, image_id)[-1]
    assert final["state"] == "error" and "plain.png" in final["error"]


def test_model_info_headers_and_static(make_client, image_folder, tmp_path):
    client = make_client(image_folder)
    info = client.get("/api/model").json()
    assert info["img_size"] == 256 and info["embedding_shape"] == [1, 64, 16, 16]
    assert info["low_res_hw"] == [64, 64] and info["mask_threshold"] == 0.0
    assert info["decoder_url"] == "/models/decoder.onnx"
    page = client.get("/")
    assert page.status_code == 200 and "samkit test page" in page.text
    for r in (page, client.get("/api/images")):
        assert r.headers["cross-origin-opener-policy"] == "same-origin"
        assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert client.get("/../../etc/passwd").status_code == 404
    assert client.get("/api/nothing").status_code == 404
    missing = make_client(image_folder, static_dir=tmp_path / "no-bundle").get("/")
    assert missing.status_code == 503 and "npm --prefix web" in missing.text


def test_edited_file_is_encoded_again(make_client, image_folder, wait_ready):
    client = make_client(image_folder)
    image_id = next(im["id"] for im in client.get("/api/images").json() if im["file_name"] == "plain.png")
    client.post(f"/api/images/{image_id}/embedding")
    wait_ready(client, image_id)
    before = client.get(f"/api/images/{image_id}/embedding").content
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8)).save(image_folder / "plain.png")
    assert client.get(f"/api/images/{image_id}/embedding/status").json()["state"] == "idle"
    assert client.get(f"/api/images/{image_id}/embedding").status_code == 409  # never the stale one
    client.post(f"/api/images/{image_id}/embedding")
    assert wait_ready(client, image_id)[-1]["state"] == "ready"
    assert client.get(f"/api/images/{image_id}/embedding").content != before
