"""CPU encoder paths: dtype="auto" / "int8" selection, the fallback without the openvino extra, the
measured choice, dtype errors, and (with openvino installed) the OpenVINO encoder end to end."""

from __future__ import annotations

import builtins
import logging

import numpy as np
import pytest
import torch

from samkit import SamPredictor, load_model
from samkit.accel import cpu_paths
from samkit.cpu_features import CpuFeatures, cpu_features
from samkit.errors import CheckpointError, InputError

AMX = CpuFeatures("test Xeon", frozenset({"amx_bf16", "amx_int8", "avx512_bf16", "avx512f"}))
AVX512_BF16 = CpuFeatures("test EPYC", frozenset({"avx512_bf16", "avx512f", "avx2"}))
PLAIN = CpuFeatures("test old CPU", frozenset({"avx2"}))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMKIT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def no_openvino(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in ("openvino", "nncf"):
            raise ImportError(f"No module named {name!r} (test)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def _image(seed=0):
    return (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("bad", ["int4", "fp8", "double"])
def test_unknown_dtype_is_an_input_error(bad):
    with pytest.raises(InputError, match="unknown dtype"):
        load_model("tiny", dtype=bad)
    with pytest.raises(CheckpointError):  # older callers caught this
        load_model("tiny", dtype=bad)


@pytest.mark.parametrize("name", ["tiny", "sam2_test_tiny"])
def test_int8_is_refused_where_it_cannot_run(name):
    with pytest.raises(InputError, match="on CPU"):  # OpenVINO + NNCF: CPU only, SAM 1 and SAM 2 alike
        load_model(name, device="meta", dtype="int8")


@pytest.mark.parametrize("features,openvino,want", [
    (AMX, True, "openvino-bf16"),
    (AMX, False, "torch-bf16"),
    (AVX512_BF16, True, "openvino-bf16"),
    (AVX512_BF16, False, "torch-bf16"),
    (PLAIN, False, "torch-fp32"),
])
def test_auto_rules_by_cpu_kind(monkeypatch, features, openvino, want):
    monkeypatch.setattr(cpu_paths, "cpu_features", lambda: features)
    monkeypatch.setattr(cpu_paths, "openvino_available", lambda int8=False: openvino)
    path, why = cpu_paths.choose_auto_path(torch.device("cpu"))
    assert path == want and why


def test_auto_prefers_this_cpus_measurement(monkeypatch):
    monkeypatch.setattr(cpu_paths, "openvino_available", lambda int8=False: False)
    cpu_paths.record_measurement("vit_b", {"torch-fp32": 3.0, "torch-bf16": 5.0, "openvino-bf16": 1.0})
    path, why = cpu_paths.choose_auto_path(torch.device("cpu"), "vit_b")
    # openvino-bf16 was fastest but is not installed here: the fastest available path wins.
    assert path == "torch-fp32" and "measured" in why
    assert cpu_paths.read_measurements()[cpu_paths.cpu_key()]["vit_b"]["seconds"]["torch-bf16"] == 5.0


def test_auto_on_this_machine_gives_a_working_predictor(one_torch_thread):
    torch.manual_seed(0)
    model = load_model("tiny", dtype="auto")
    want = torch.bfloat16 if cpu_features().has_fast_bf16 else torch.float32
    if model.encoder_backend is None:
        assert model.encoder_dtype == want
    predictor = SamPredictor(model)
    predictor.set_image(_image())
    masks, iou, _ = predictor.predict(point_coords=np.array([[20.0, 30.0]]), point_labels=np.array([1]))
    assert masks.shape == (3, 48, 64) and np.isfinite(iou).all()


def test_int8_without_the_extra_falls_back_with_one_line(no_openvino, caplog, one_torch_thread):
    assert not cpu_paths.openvino_available(int8=True)
    with caplog.at_level(logging.WARNING, logger="samkit"):
        model = load_model("tiny", dtype="int8")
    notices = [r.getMessage() for r in caplog.records if "samkit[openvino]" in r.getMessage()]
    assert len(notices) == 1 and "\n" not in notices[0]
    assert model.encoder_backend is None
    assert model.encoder_dtype in (torch.bfloat16, torch.float32)
    predictor = SamPredictor(model)
    predictor.set_image(_image())
    assert predictor.predict(point_coords=np.array([[10.0, 10.0]]), point_labels=np.array([1]))[0].shape == (3, 48, 64)


def test_measured_openvino_choice_without_the_extra_is_not_picked(no_openvino, monkeypatch):
    cpu_paths.record_measurement("tiny", {"openvino-bf16": 0.1, "torch-fp32": 1.0})
    assert cpu_paths.choose_auto_path(torch.device("cpu"), "tiny")[0] == "torch-fp32"
    assert "openvino-bf16" not in cpu_paths.available_paths()


# ------------------------------------------------------------------ with the openvino extra
def _twins():
    torch.manual_seed(0)
    a = load_model("tiny", dtype="float32")
    b = load_model("tiny", dtype="float32")
    b.load_state_dict(a.state_dict())
    return a, b


def _mask_ious(p_a, p_b, image, n=6):
    h, w = image.shape[:2]
    ious = []
    for xy in np.random.default_rng(1).uniform([0, 0], [w, h], size=(n, 2)):
        kw = dict(point_coords=xy[None], point_labels=np.array([1]), multimask_output=True)
        a, b = p_a.predict(**kw)[0], p_b.predict(**kw)[0]
        for i in range(3):
            union = np.logical_or(a[i], b[i]).sum()
            ious.append(1.0 if union == 0 else np.logical_and(a[i], b[i]).sum() / union)
    return np.array(ious)


def test_openvino_encoder_matches_torch_and_is_cached(one_torch_thread):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxscript")
    ref, ov_model = _twins()
    assert cpu_paths.resolve_encoder_path(ov_model, "openvino-fp32", torch.device("cpu")) == "openvino-fp32"
    assert ov_model.encoder_backend.cold_build_s > 0
    image = _image()
    p_ref, p_ov = SamPredictor(ref), SamPredictor(ov_model)
    p_ref.set_image(image)
    p_ov.set_image(image)
    torch.testing.assert_close(p_ov.features, p_ref.features, atol=1e-4, rtol=1e-4)
    assert _mask_ious(p_ref, p_ov, image).min() > 0.99
    # A second load finds the IR on disk: no export, no conversion.
    _, again = _twins()
    cpu_paths.resolve_encoder_path(again, "openvino-fp32", torch.device("cpu"))
    assert again.encoder_backend.cold_build_s == 0.0
    # Weights changed after the build: the compiled encoder is no longer used (torch answers).
    with torch.no_grad():
        again.image_encoder.neck[0].weight.mul_(2)
    x = again.preprocess(torch.rand(1, 3, 256, 256) * 255)
    assert not again.encoder_backend.serves(again, x)
    with torch.inference_mode():
        torch.testing.assert_close(again.encode_images(x), again.image_encoder(x))


def test_int8_end_to_end(one_torch_thread, tmp_path, monkeypatch):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    pytest.importorskip("onnxscript")
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(_image(10 + i)).save(photos / f"{i}.png")
    monkeypatch.setenv("SAMKIT_CALIBRATION_DIR", str(photos))
    torch.manual_seed(0)
    model = load_model("tiny", dtype="int8")
    assert model.encoder_backend is not None and model.encoder_backend.precision == "int8"
    assert model.encoder_dtype == torch.int8  # the embedding cache tells int8 embeddings apart
    ref = load_model("tiny", dtype="float32")
    ref.load_state_dict(model.state_dict())
    image = _image()
    p_ref, p_int8 = SamPredictor(ref), SamPredictor(model)
    p_ref.set_image(image)
    p_int8.set_image(image)
    rel = float((p_int8.features - p_ref.features).norm() / p_ref.features.norm())
    assert 0 < rel < 0.3  # quantised (not identical) yet the same embedding
    masks, iou, _ = p_int8.predict(point_coords=np.array([[20.0, 30.0]]), point_labels=np.array([1]))
    assert masks.shape == (3, 48, 64) and np.isfinite(iou).all()


def test_int8_calibration_photos_are_checked(monkeypatch, tmp_path):
    pytest.importorskip("openvino")
    from samkit.accel.int8_calibration import calibration_tensors, default_calibration_paths

    monkeypatch.setenv("SAMKIT_CALIBRATION_DIR", str(tmp_path))
    with pytest.raises(InputError, match="SAMKIT_CALIBRATION_DIR"):
        default_calibration_paths()
    model = load_model("tiny")
    with pytest.raises(InputError, match="uint8"):
        calibration_tensors(model, [np.zeros((8, 8), np.float32)])


def test_a_failed_openvino_build_falls_back_to_torch(monkeypatch, caplog):
    from samkit.accel import openvino_encoder

    def broken(*args, **kwargs):
        raise RuntimeError("convert failed\nmore detail")

    monkeypatch.setattr(cpu_paths, "openvino_available", lambda int8=False: True)
    monkeypatch.setattr(openvino_encoder, "OpenVinoEncoder", broken)
    model = load_model("tiny")
    with caplog.at_level(logging.WARNING, logger="samkit"):
        used = cpu_paths.resolve_encoder_path(model, "openvino-bf16", torch.device("cpu"))
    assert used in ("torch-bf16", "torch-fp32") and model.encoder_backend is None
    assert any("could not be built (RuntimeError: convert failed)" in r.getMessage() for r in caplog.records)
