"""SAM 2's CPU encoder paths: dtype="auto" / "int8" selection for SAM 2 presets, the fallback without
the openvino extra, and (with openvino installed) the OpenVINO image features end to end: close to
torch, cached on disk, dropped when the weights change, and used transparently by
SAM2ImagePredictor (set_image / set_image_batch), the automatic mask generator and the video
predictor. Random weights, the sam2_test_tiny preset (256 px)."""

from __future__ import annotations

import builtins
import contextlib
import logging

import numpy as np
import pytest
import torch

from samkit import load_model
from samkit.accel import cpu_paths
from samkit.inference.sam2_predictor import SAM2ImagePredictor

PRESET = "sam2_test_tiny"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One OpenVINO cache for the module: the fp32 build is paid once, later loads hit the disk."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("samkit-cache")
        mp.setenv("SAMKIT_CACHE_DIR", str(path))
        yield path


@pytest.fixture
def no_openvino(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in ("openvino", "nncf"):
            raise ImportError(f"No module named {name!r} (test)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def _image(seed=0, hw=(72, 96)):
    return (np.random.default_rng(seed).random((*hw, 3)) * 255).astype(np.uint8)


def _twins(path: str | None = None):
    """(fp32 torch model, same weights on `path`), both SAM2Base, eval."""
    torch.manual_seed(0)
    ref = load_model(PRESET, dtype="float32")
    other = load_model(PRESET, dtype="float32")
    other.load_state_dict(ref.state_dict())
    if path is not None:
        cpu_paths.resolve_encoder_path(other, path, torch.device("cpu"))
    return ref, other


def _mask_ious(p_a, p_b, hw, n=6):
    ious = []
    for xy in np.random.default_rng(1).uniform([0, 0], [hw[1], hw[0]], size=(n, 2)):
        kw = dict(point_coords=xy[None], point_labels=np.array([1]), multimask_output=True)
        a, b = p_a.predict(**kw)[0] > 0, p_b.predict(**kw)[0] > 0
        for i in range(3):
            union = np.logical_or(a[i], b[i]).sum()
            ious.append(1.0 if union == 0 else np.logical_and(a[i], b[i]).sum() / union)
    return np.array(ious)


# ------------------------------------------------------------------ selection, without the extra
def test_auto_uses_the_sam2_presets_own_measurement(cache_dir, monkeypatch):
    monkeypatch.setattr(cpu_paths, "openvino_available", lambda int8=False: False)
    cpu_paths.record_measurement(PRESET, {"torch-fp32": 1.0, "torch-bf16": 2.0, "openvino-bf16": 0.5})
    cpu_paths.record_measurement("vit_b", {"torch-bf16": 0.1, "torch-fp32": 9.0})  # another model's
    path, why = cpu_paths.choose_auto_path(torch.device("cpu"), PRESET)
    assert path == "torch-fp32" and "measured" in why  # OpenVINO was fastest but is not installed
    model = load_model(PRESET, dtype="auto")
    assert model.encoder_backend is None and model.encoder_dtype == torch.float32


def test_the_sam2_video_builder_takes_load_models_path(cache_dir, monkeypatch):
    """sam2's drop-in build_sam2_video_predictor(dtype="auto") picks the same measured CPU path as
    load_model (the OpenVINO encoder where installed), not plain torch bf16."""
    from samkit.sam2.build_sam import build_sam2_video_predictor

    chosen, real = [], cpu_paths.resolve_encoder_path
    monkeypatch.setattr(cpu_paths, "resolve_encoder_path", lambda m, p, d, *a, **k: chosen.append(p) or real(m, p, d, *a, **k))
    monkeypatch.setattr(cpu_paths, "openvino_available", lambda int8=False: False)
    # fp32 measured fastest: plain resolve_dtype("auto") would have said bf16 on a bf16 CPU.
    cpu_paths.record_measurement(PRESET, {"torch-fp32": 1.0, "torch-bf16": 2.0})
    predictor = build_sam2_video_predictor(PRESET, device="cpu", dtype="auto")
    assert chosen == ["torch-fp32"] and predictor.encoder_backend is None
    assert predictor.encoder_dtype == torch.float32
    chosen.clear()
    assert build_sam2_video_predictor(PRESET, device="cpu").encoder_dtype == torch.float32 and chosen == []


def test_sam2_without_the_extra_falls_back_with_one_line(cache_dir, no_openvino, caplog):
    assert not cpu_paths.openvino_available()
    with caplog.at_level(logging.WARNING, logger="samkit"):
        model = load_model(PRESET, dtype="int8")
    notices = [r.getMessage() for r in caplog.records if "samkit[openvino]" in r.getMessage()]
    assert len(notices) == 1 and "\n" not in notices[0]
    assert model.encoder_backend is None and model.encoder_dtype in (torch.bfloat16, torch.float32)
    auto = load_model(PRESET, dtype="auto")
    assert auto.encoder_backend is None
    predictor = SAM2ImagePredictor(model)
    predictor.set_image(_image())
    masks, iou, _ = predictor.predict(point_coords=np.array([[20.0, 30.0]]), point_labels=np.array([1]))
    assert masks.shape == (3, 72, 96) and np.isfinite(iou).all()


# ------------------------------------------------------------------ with the openvino extra
@pytest.fixture(scope="module")
def ov_twins(cache_dir):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxscript")
    ref, ov_model = _twins("openvino-fp32")
    assert ov_model.encoder_backend is not None and ov_model.encoder_backend.family == "sam2"
    return ref, ov_model


def test_openvino_image_features_match_torch(ov_twins):
    ref, ov_model = ov_twins
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        want, got = ref.forward_image(x), ov_model.forward_image(x)
    assert ov_model.encoder_backend.serves(ov_model, x)
    assert set(got) == set(want)
    assert len(got["backbone_fpn"]) == len(want["backbone_fpn"]) == 3
    for g, w in zip(got["backbone_fpn"] + got["vision_pos_enc"], want["backbone_fpn"] + want["vision_pos_enc"]):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4)
    assert got["vision_features"] is got["backbone_fpn"][-1]


def test_bf16_after_fp32_on_the_same_ir_is_bf16s_own(ov_twins):
    """fp32 and bf16 share the IR but not OpenVINO's compiled-blob cache (sharing it gave bf16 NaNs)."""
    ref, ov_model = ov_twins
    _, bf16 = _twins("openvino-bf16")
    assert bf16.encoder_backend.cold_build_s == 0.0 and bf16.encoder_backend.dir == ov_model.encoder_backend.dir
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        want, got = ref.forward_image(x)["backbone_fpn"], bf16.forward_image(x)["backbone_fpn"]
    for g, w in zip(got, want):
        rel = float((g - w).norm() / w.norm())
        assert rel < 0.1, rel


def test_the_compiled_features_are_cached_and_dropped_when_weights_change(ov_twins):
    _, ov_model = ov_twins
    _, again = _twins("openvino-fp32")  # same weights: the IR comes from the disk cache
    assert again.encoder_backend.cold_build_s == 0.0
    assert again.encoder_backend.dir == ov_model.encoder_backend.dir
    with torch.no_grad():
        again.sam_mask_decoder.conv_s0.weight.mul_(2)  # part of the graph: the decoder's high-res projection
    x = torch.randn(1, 3, 256, 256)
    assert not again.encoder_backend.serves(again, x)
    with torch.inference_mode():
        out = again.forward_image(x)
        want = again.sam_mask_decoder.conv_s0(again.image_encoder(x)["backbone_fpn"][0])
    torch.testing.assert_close(out["backbone_fpn"][0], want)


def test_predictor_batch_and_amg_through_openvino(ov_twins):
    from samkit.automatic.sam2_generator import SAM2AutomaticMaskGenerator

    ref, ov_model = ov_twins
    backend = ov_model.encoder_backend
    calls = []

    class Counting:  # the same backend, counting the images it encodes per call
        serves = staticmethod(backend.serves)

        def __call__(self, x):
            calls.append(x.shape[0])
            return backend(x)

    ov_model.encoder_backend = Counting()
    try:
        image = _image()
        p_ref, p_ov = SAM2ImagePredictor(ref), SAM2ImagePredictor(ov_model)
        p_ref.set_image(image)
        p_ov.set_image(image)
        assert calls == [1]
        torch.testing.assert_close(p_ov.get_image_embedding(), p_ref.get_image_embedding(), atol=1e-4, rtol=1e-4)
        assert _mask_ious(p_ref, p_ov, image.shape[:2]).min() > 0.99
        images = [_image(1), _image(2, hw=(50, 40))]
        p_ref.set_image_batch(images)
        p_ov.set_image_batch(images)
        assert calls == [1, 2]
        kw = dict(point_coords_batch=[np.array([[10.0, 10.0]])] * 2, point_labels_batch=[np.array([1])] * 2)
        (masks_a, scores_a, _), (masks_b, scores_b, _) = p_ref.predict_batch(**kw), p_ov.predict_batch(**kw)
        assert len(masks_a) == len(masks_b) == 2
        for m_a, s_a, m_b, s_b in zip(masks_a, scores_a, masks_b, scores_b):
            np.testing.assert_allclose(s_a, s_b, atol=1e-3)
            assert (m_a != m_b).mean() < 0.01
        amg = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)
        got = SAM2AutomaticMaskGenerator(ov_model, **amg).generate(image)
        want = SAM2AutomaticMaskGenerator(ref, **amg).generate(image)
        assert calls == [1, 2, 1] and len(got) == len(want) > 0
        agree = [np.logical_and(a["segmentation"], b["segmentation"]).sum() / max(1, np.logical_or(
            a["segmentation"], b["segmentation"]).sum()) for a, b in zip(want, got)]
        assert np.mean(agree) > 0.99
    finally:
        ov_model.encoder_backend = backend


def test_video_predictor_tracks_through_openvino(ov_twins, tmp_path):
    from synthetic_video import synthetic_frames, write_frame_folder

    from samkit.video.build_video import video_predictor_from_model

    ref, ov_model = ov_twins
    folder = tmp_path / "clip"
    write_frame_folder(folder, synthetic_frames(4))
    masks = []
    for model in (ref, ov_model):
        predictor = video_predictor_from_model(model, fill_hole_area=0).eval()
        assert predictor.encoder_backend is model.encoder_backend
        state = predictor.init_state(str(folder))
        predictor.add_new_points_or_box(state, 0, obj_id=1, points=[[20, 30]], labels=[1])
        masks.append(torch.stack([m > 0 for _, _, m in predictor.propagate_in_video(state)]))
    assert masks[0].shape == masks[1].shape and masks[0].shape[0] == 4
    inter, union = (masks[0] & masks[1]).sum().item(), (masks[0] | masks[1]).sum().item()
    assert union == 0 or inter / union > 0.98


def test_sam2_int8_end_to_end(ov_twins, tmp_path, monkeypatch):
    pytest.importorskip("nncf")
    from PIL import Image

    from samkit.accel import encoder_graphs

    def no_export(*args, **kwargs):
        raise AssertionError("int8 should quantise the cached float IR, not export again")

    monkeypatch.setattr(encoder_graphs, "_export_sam2", no_export)

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(_image(10 + i)).save(photos / f"{i}.png")
    monkeypatch.setenv("SAMKIT_CALIBRATION_DIR", str(photos))
    torch.manual_seed(0)  # the weights of ov_twins, whose float IR is on disk
    model = load_model(PRESET, dtype="int8")
    assert model.encoder_backend is not None and model.encoder_backend.precision == "int8"
    assert model.encoder_dtype == torch.int8  # the feature cache's key tells int8 features apart
    ref = load_model(PRESET, dtype="float32")
    ref.load_state_dict(model.state_dict())
    image = _image()
    p_ref, p_int8 = SAM2ImagePredictor(ref), SAM2ImagePredictor(model)
    p_ref.set_image(image)
    p_int8.set_image(image)
    a, b = p_ref.get_image_embedding(), p_int8.get_image_embedding()
    rel = float((a - b).norm() / a.norm())
    # Quantised (not identical) yet the same features: 0.36 on this 16-wide random trunk (an unrelated
    # map would be ~1.4); the real presets' numbers are in docs/benchmarks.md.
    assert 0 < rel < 0.5, rel
    masks, iou, _ = p_int8.predict(point_coords=np.array([[20.0, 30.0]]), point_labels=np.array([1]))
    assert masks.shape == (3, 72, 96) and np.isfinite(iou).all()
    # Weights changed: torch answers in fp32 (int8 is no autocast dtype), also in the tracking step.
    with torch.no_grad():
        model.image_encoder.neck.convs[0].conv.bias.add_(0.0)
    with torch.inference_mode():
        x = torch.randn(1, 3, 256, 256)
        torch.testing.assert_close(model.forward_image(x)["vision_features"], ref.forward_image(x)["vision_features"])
    assert isinstance(model._tracking_autocast(torch.device("cpu")), contextlib.nullcontext)
