"""What the page downloads for in-page decoding: the split decoder files (SAM 1) and SAM 2's features."""

from __future__ import annotations

import numpy as np
import onnx
import torch


def _first_image(client) -> str:
    return next(i["id"] for i in client.get("/api/images").json() if i["file_name"] == "plain.png")


def test_split_decoder_files_for_sam1(make_client, image_folder):
    client = make_client(image_folder)
    kinds = {}
    for part in ("image", "prompt"):
        r = client.get(f"/models/decoder-{part}.onnx")
        assert r.status_code == 200, r.text
        kinds[part] = {p.key: p.value for p in onnx.load_from_string(r.content).metadata_props}["samkit.kind"]
    assert kinds == {"image": "decoder-image-side", "prompt": "decoder-prompt"}
    assert client.get("/api/images/1/features").status_code in (404, 409)  # SAM 1: no SAM 2 features
    assert client.get("/models/sam2-decoder-image.onnx").status_code == 404
    client.app.state.decoder.wait(timeout=600)  # the official export follows in the background: let it end


def test_provided_decoder_means_no_split(make_client, image_folder, tiny_model, tmp_path):
    from samkit.export import export_decoder

    path = export_decoder(tiny_model, tmp_path / "given.onnx")
    client = make_client(image_folder, decoder_onnx=path)
    r = client.get("/models/decoder-prompt.onnx")
    assert r.status_code == 404 and "--decoder-onnx" in r.json()["detail"]  # the page runs the given file


def test_sam2_features_are_the_cached_maps_in_float16(tmp_path, wait_ready):
    from fastapi.testclient import TestClient

    from samkit.build import load_model
    from samkit.serve import create_app
    from serve.conftest import write_images

    torch.manual_seed(0)
    model = load_model("sam2_test_tiny", device="cpu")
    folder = write_images(tmp_path / "images")["png"].parent
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html>")
    with TestClient(create_app(folder, model, static_dir=static)) as client:
        iid = _first_image(client)
        assert client.get(f"/api/images/{iid}/features").status_code == 409  # not encoded yet
        client.post(f"/api/images/{iid}/embedding")
        assert wait_ready(client, iid)[-1]["state"] == "ready"
        r = client.get(f"/api/images/{iid}/features")
        assert r.status_code == 200
        shapes = [tuple(int(v) for v in s.split(",")) for s in r.headers["X-Feature-Shapes"].split(";")]
        c = int(model.sam_prompt_encoder.embed_dim)
        h, w = (int(v) for v in model.sam_prompt_encoder.image_embedding_size)
        assert shapes == [(1, c, h, w), (1, c // 8, 4 * h, 4 * w), (1, c // 4, 2 * h, 2 * w)]
        values = np.frombuffer(r.content, "<f2")
        assert values.size == sum(int(np.prod(s)) for s in shapes)
        emb = client.app.state.embeddings.embedding(client.app.state.store.image(int(iid)).pixel_key)
        want = np.concatenate([t.float().numpy().ravel() for t in (emb.image_embed, *emb.high_res_feats)])
        np.testing.assert_allclose(values.astype(np.float32), want, rtol=1e-3, atol=1e-3)
        assert client.get("/models/decoder-image.onnx").status_code == 404  # SAM 2 has no SAM 1 split files
