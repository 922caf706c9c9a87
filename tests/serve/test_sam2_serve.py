"""`samkit serve` with a SAM 2 model: features cached on disk, prompts decoded on the server, and the
decode endpoint answering exactly what SAM2ImagePredictor answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from samkit.serve.embedding_service import _progress_modules

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chelsea.png"


@pytest.fixture(scope="module")
def sam2_model(one_torch_thread):
    from samkit.build import load_model

    torch.manual_seed(0)
    return load_model("sam2_test_tiny", device="cpu")


@pytest.fixture
def sam2_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "cat.png")
    return folder


@pytest.fixture
def sam2_client(sam2_model, make_client):
    """sam2_client(folder, **create_app_kwargs) -> a started TestClient on the SAM 2 model."""
    return lambda folder, **kwargs: make_client(folder, model=sam2_model, **kwargs)


@pytest.fixture(scope="module")
def direct(sam2_model):
    """SAM2ImagePredictor on the same image, the answers the server must give."""
    from samkit.image_io import load_image
    from samkit.inference.sam2_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(sam2_model)
    predictor.set_image(load_image(EXAMPLE))
    return predictor


def _decode(client, image_id: str, **body):
    r = client.post(f"/api/images/{image_id}/decode", json=body)
    assert r.status_code == 200, r.text
    shape = tuple(int(v) for v in r.headers["X-Mask-Shape"].split(","))
    low = np.frombuffer(r.content, dtype="<f2").reshape(shape)
    iou = np.array([float(v) for v in r.headers["X-Iou-Predictions"].split(",")], np.float32)
    return low, iou, r.headers["X-Mask-Id"]


def test_model_info_asks_for_server_decoding(sam2_client, sam2_folder):
    client = sam2_client(sam2_folder)
    info = client.get("/api/model").json()
    assert info["family"] == "sam2" and info["decoder_mode"] == "server" and info["low_res_frame"] == "whole-image"
    assert info["name"] == "sam2_test_tiny" and info["img_size"] == 256
    assert info["embedding_shape"] == [1, 64, 16, 16] and info["low_res_hw"] == [64, 64]
    assert info["decode_url"] == "/api/images/{id}/decode" and info["decoder_ready"] is True
    assert client.get("/models/decoder.onnx").status_code == 404


def test_decode_is_the_predictors_answer(sam2_client, sam2_folder, direct, wait_ready):
    client = sam2_client(sam2_folder)
    (image,) = client.get("/api/images").json()
    iid = image["id"]
    r = client.post(f"/api/images/{iid}/decode", json={"points": [[200, 150]], "labels": [1]})
    assert r.status_code == 409 and "not encoded" in r.json()["detail"]
    assert client.post(f"/api/images/{iid}/embedding").json()["state"] in ("queued", "encoding", "ready")
    assert wait_ready(client, iid)[-1]["state"] == "ready"

    cases = [
        dict(points=[[200, 150]], labels=[1], multimask_output=True),
        dict(points=[[200, 150], [60, 40]], labels=[1, 0], multimask_output=False),
        dict(box=[100, 50, 350, 280], multimask_output=False),
        dict(points=[[120, 200]], labels=[1], box=[100, 50, 350, 280], multimask_output=True),
    ]
    for body in cases:
        low, iou, _ = _decode(client, iid, **body)
        pts = np.array(body["points"], np.float32) if "points" in body else None
        labels = np.array(body["labels"]) if "labels" in body else None
        box = np.array(body["box"], np.float32) if "box" in body else None
        _, want_iou, want_low = direct.predict(pts, labels, box, multimask_output=body["multimask_output"])
        assert low.shape == want_low.shape == ((3 if body["multimask_output"] else 1), 64, 64)
        # The same computation on the same (cached) features: equal up to the float16 transport.
        np.testing.assert_array_equal(low, want_low.astype(np.float16))
        np.testing.assert_allclose(iou, want_iou, rtol=1e-5, atol=1e-6)

    # A decode's logits fed back by id are the predictor's mask_input.
    first, _, mask_id = _decode(client, iid, points=[[200, 150]], labels=[1], multimask_output=True)
    low, iou, _ = _decode(client, iid, points=[[200, 150], [300, 100]], labels=[1, 1], multimask_output=False,
                          mask_input_id=mask_id, mask_index=2)
    _, _, want_first = direct.predict(np.array([[200, 150]], np.float32), np.array([1]), multimask_output=True)
    _, want_iou, want_low = direct.predict(np.array([[200, 150], [300, 100]], np.float32), np.array([1, 1]),
                                           mask_input=want_first[2:3], multimask_output=False)
    np.testing.assert_array_equal(low, want_low.astype(np.float16))
    np.testing.assert_allclose(iou, want_iou, rtol=1e-5, atol=1e-6)


def test_features_cached_on_disk_survive_a_restart(sam2_client, sam2_folder, wait_ready):
    client = sam2_client(sam2_folder)
    (image,) = client.get("/api/images").json()
    client.post(f"/api/images/{image['id']}/embedding")
    assert wait_ready(client, image["id"])[-1]["state"] == "ready"
    files = list((sam2_folder / ".samkit" / "embeddings").glob("sam2-*/*.safetensors"))
    assert len(files) == 1  # all three feature maps in one file, keyed by model and image content
    from samkit.inference.sam2_embedding import Sam2Embedding

    emb = Sam2Embedding.load(files[0])
    assert emb.image_embed.shape == (1, 64, 16, 16) and [f.shape[-1] for f in emb.high_res_feats] == [64, 32]
    again = sam2_client(sam2_folder)  # a restarted server on the same folder: nothing to encode
    (image,) = again.get("/api/images").json()
    assert image["embedded"] is True
    assert again.post(f"/api/images/{image['id']}/embedding").json()["state"] == "ready"
    low, iou, _ = _decode(again, image["id"], points=[[10, 10]], labels=[1])
    assert low.shape == (3, 64, 64) and iou.shape == (3,)
    # The page may still fetch the image embedding (float16, 1 x C x h x w).
    r = again.get(f"/api/images/{image['id']}/embedding")
    assert r.headers["X-Embedding-Shape"] == "1,64,16,16" and len(r.content) == 2 * 64 * 16 * 16


@pytest.mark.parametrize("body, message", [
    ({"points": [[10, 10]], "labels": [1, 0]}, "does not match"),
    ({"points": [[10, 1e6]], "labels": [1]}, "outside"),
    ({}, "empty"),
    ({"points": [[10, 10]], "labels": [1], "mask_input_id": "nope"}, "unknown or expired"),
])
def test_bad_prompts_are_422_with_a_reason(sam2_client, sam2_folder, wait_ready, body, message):
    client = sam2_client(sam2_folder)
    (image,) = client.get("/api/images").json()
    client.post(f"/api/images/{image['id']}/embedding")
    wait_ready(client, image["id"])
    r = client.post(f"/api/images/{image['id']}/decode", json=body)
    assert r.status_code == 422 and message in r.json()["detail"]


def test_progress_counts_the_hiera_blocks(sam2_model):
    stages = _progress_modules(sam2_model.image_encoder)
    trunk = sam2_model.image_encoder.trunk
    assert stages == [*trunk.blocks, sam2_model.image_encoder.neck]


def test_onnx_decoder_options_are_refused_for_sam2(sam2_model, tmp_path):
    from samkit.cli import serve
    from samkit.cli.main import _Parser
    from samkit.errors import InputError
    from samkit.serve import create_app

    with pytest.raises(InputError, match="decoded on the server"):
        create_app(tmp_path / "f", sam2_model, quantize_decoder=True)
    parser = _Parser(prog="samkit")
    serve.register(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(["serve", str(tmp_path), "--model", "sam2.1_hiera_t", "--quantize-decoder"])
    with pytest.raises(InputError, match="decoded on the server"):
        serve.run(args)  # refused before the (large) model is built


def test_sam1_models_can_be_decoded_on_the_server_too(make_client, image_folder, tiny_model, wait_ready):
    from samkit.inference.predictor import SamPredictor
    from samkit.image_io import load_image

    client = make_client(image_folder)
    assert client.get("/api/model").json()["decoder_mode"] == "browser-onnx"
    image = next(i for i in client.get("/api/images").json() if i["file_name"] == "plain.png")
    client.post(f"/api/images/{image['id']}/embedding")
    wait_ready(client, image["id"])
    low, iou, _ = _decode(client, image["id"], points=[[40, 30]], labels=[1], multimask_output=True)
    predictor = SamPredictor(tiny_model)
    predictor.set_image(load_image(image_folder / "plain.png"))
    _, want_iou, want_low = predictor.predict(np.array([[40, 30]], np.float32), np.array([1]), multimask_output=True)
    np.testing.assert_allclose(low.astype(np.float32), want_low, atol=0.02)
    np.testing.assert_allclose(iou, want_iou, atol=1e-5)
