"""The annotator's text route: POST /api/images/{id}/decode_text answers what the predictor answers."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from text_prompt_fixtures import NAMES, tiny_text_model

from samkit import SamPredictor, build_sam
from samkit.image_io import load_image

pytest.importorskip("fastapi")


def _client(tmp_path, model):
    from fastapi.testclient import TestClient

    from samkit.serve import create_app

    folder, static = tmp_path / "images", tmp_path / "static"
    folder.mkdir(), static.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(folder / "plain.png")
    (static / "index.html").write_text("<!doctype html><title>test</title>")
    client = TestClient(create_app(folder, model, static_dir=static, export_decoder_on_start=False,
                                   state_dir=tmp_path / "state"))
    client.__enter__()
    iid = client.get("/api/images").json()[0]["id"]
    client.post(f"/api/images/{iid}/embedding")
    for _ in range(300):
        if client.get(f"/api/images/{iid}/embedding/status").json()["state"] == "ready":
            break
        time.sleep(0.05)
    return client, iid, folder / "plain.png"


def test_text_decode_matches_the_predictor_and_refuses_unknown_words(tmp_path):
    model = tiny_text_model()
    client, iid, path = _client(tmp_path, model)
    try:
        info = client.get("/api/text_prompt").json()
        assert info["available"] and info["kind"] == "word" and tuple(info["vocabulary"]) == NAMES
        r = client.post(f"/api/images/{iid}/decode_text", json={"text": "dog", "points": [[40, 30]], "labels": [1]})
        assert r.status_code == 200, r.text
        k, h, w = (int(v) for v in r.headers["X-Mask-Shape"].split(","))
        low = np.frombuffer(r.content, dtype="<f2").reshape(k, h, w)
        pred = SamPredictor(model)
        pred.set_image(load_image(path))
        want = pred.segment(point_coords=[[40, 30]], point_labels=[1], text="dog").low_res_logits
        np.testing.assert_allclose(low, np.clip(want, -32, 32), atol=2e-2)
        bad = client.post(f"/api/images/{iid}/decode_text", json={"text": "zebra"})
        assert bad.status_code == 422 and "unknown word 'zebra'" in bad.json()["detail"]
    finally:
        client.__exit__(None, None, None)


def test_a_model_without_text_path_says_so(tmp_path):
    client, iid, _ = _client(tmp_path, build_sam("tiny"))
    try:
        assert client.get("/api/text_prompt").json() == {"available": False, "kind": None, "vocabulary": []}
        r = client.post(f"/api/images/{iid}/decode_text", json={"text": "dog"})
        assert r.status_code == 422 and "no text prompt path" in r.json()["detail"]
    finally:
        client.__exit__(None, None, None)
