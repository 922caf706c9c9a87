"""The exported decoder: official names, symbolic sizes, parity with PyTorch, variants."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from samkit.export import check_decoder_parity, export_decoder, mask_iou_between, quantize_decoder
from samkit.export.parity import DecoderCase, onnx_session, random_cases, torch_outputs

OFFICIAL_INPUTS = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"]


def test_official_input_and_output_names(tiny_decoder_onnx):
    session = onnx_session(tiny_decoder_onnx)
    assert [i.name for i in session.get_inputs()] == OFFICIAL_INPUTS
    assert [o.name for o in session.get_outputs()] == ["masks", "iou_predictions", "low_res_masks", "stability_scores"]
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert shapes["image_embeddings"] == [1, 64, 16, 16]
    assert shapes["point_coords"] == [1, "num_points", 2]
    assert shapes["point_labels"] == [1, "num_points"]
    assert shapes["mask_input"] == [1, 1, 64, 64]
    assert shapes["orig_im_size"] == [2]
    masks = session.get_outputs()[0]
    assert masks.shape[:2] == [1, 4] and all(isinstance(d, str) for d in masks.shape[2:])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["samkit.model"] == "tiny" and meta["samkit.img_size"] == "256" and meta["samkit.kind"] == "decoder"


def test_fp32_parity_1_to_10_points_box_and_mask(tiny_model, tiny_decoder_onnx):
    cases = random_cases(tiny_model, max_points=10)
    assert {len(c.points_xy) for c in cases} == set(range(1, 11))
    assert {c.box_xyxy is None for c in cases} == {True, False}
    assert {c.mask_input is None for c in cases} == {True, False}
    report = check_decoder_parity(tiny_model, tiny_decoder_onnx, cases)
    assert report.num_cases == 40
    assert report.passed(1e-4), report.summary()


@pytest.mark.parametrize("orig_hw", [(37, 211), (211, 37), (256, 256), (1, 1), (4000, 3000)])
def test_masks_at_original_size_for_any_aspect_ratio(tiny_model, tiny_decoder_onnx, orig_hw):
    case = DecoderCase(orig_hw, np.array([[30.0, 20.0]], np.float32), np.array([1]), None, None)
    report = check_decoder_parity(tiny_model, tiny_decoder_onnx, [case])
    assert report.passed(1e-4), report.summary()
    emb = np.random.default_rng(0).normal(size=(1, 64, 16, 16)).astype(np.float32)
    masks = onnx_session(tiny_decoder_onnx).run(["masks"], case.onnx_feed(emb))[0]
    assert masks.shape == (1, 4, *orig_hw)


def test_point_count_is_dynamic_beyond_the_traced_one(tiny_model, tiny_decoder_onnx):
    rng = np.random.default_rng(3)
    for n in (1, 5, 37):
        case = DecoderCase((300, 400), rng.uniform(0, 190, (n, 2)).astype(np.float32), rng.integers(0, 2, n),
                           None, None)
        assert check_decoder_parity(tiny_model, tiny_decoder_onnx, [case]).passed(1e-4)


def test_same_outputs_as_the_official_onnx_wrapper(tiny_model, tiny_decoder_onnx):
    """The reference's SamOnnxModel (what the official demo was exported from), same weights."""
    from reference_sam import build_reference_sam, import_reference

    import_reference()
    from segment_anything.utils.onnx import SamOnnxModel

    ref = build_reference_sam(tiny_model.config)
    ref.load_state_dict(tiny_model.state_dict())
    official = SamOnnxModel(ref, return_single_mask=False).eval()
    session = onnx_session(tiny_decoder_onnx)
    emb = torch.randn(1, 64, 16, 16)
    for case in random_cases(tiny_model, max_points=3, orig_hws=[(480, 640), (999, 333)]):
        feed = case.onnx_feed(emb.numpy())
        got = session.run(["masks", "iou_predictions", "low_res_masks"], feed)
        want = official(*(torch.from_numpy(feed[name]) for name in OFFICIAL_INPUTS))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=0)


def test_stability_scores_match_torch(tiny_model, tiny_decoder_onnx):
    from samkit.export.decoder_model import stability_scores

    logits = torch.tensor([[[[-2.0, -0.5], [0.5, 2.0]]]])
    assert stability_scores(logits, 0.0, 1.0).item() == pytest.approx(1 / 3)
    case = random_cases(tiny_model, max_points=1)[0]
    emb = torch.randn(1, 64, 16, 16)
    got = onnx_session(tiny_decoder_onnx).run(["stability_scores"], case.onnx_feed(emb.numpy()))[0]
    np.testing.assert_allclose(got, torch_outputs(tiny_model, emb, case)["stability_scores"], atol=1e-6)


def test_single_mask_variant_and_no_stability(tiny_model, tmp_path):
    path = export_decoder(tiny_model, tmp_path / "single.onnx", single_mask=True, stability_output=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["single.onnx"]  # atomic: no temporary left
    session = onnx_session(path)
    assert [o.name for o in session.get_outputs()] == ["masks", "iou_predictions", "low_res_masks"]
    report = check_decoder_parity(tiny_model, path, random_cases(tiny_model, max_points=4))
    assert report.passed(1e-4), report.summary()


def test_int8_variant_is_smaller_and_close(tiny_model, tiny_decoder_onnx, tmp_path):
    int8 = quantize_decoder(tiny_decoder_onnx, tmp_path / "decoder.int8.onnx")
    model = onnx.load(str(int8))
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for n in model.graph.node)
    assert int8.stat().st_size < 0.8 * tiny_decoder_onnx.stat().st_size
    mean_iou, min_iou = mask_iou_between(tiny_decoder_onnx, int8, tiny_model, random_cases(tiny_model, max_points=5))
    assert mean_iou >= 0.98, (mean_iou, min_iou)


@pytest.mark.slow
def test_vit_b_sized_decoder_parity(tmp_path):
    """The decoder is the same size for every real preset: export and check the vit_b one."""
    from samkit.build import build_sam

    torch.manual_seed(0)
    model = build_sam("vit_b").eval()
    path = export_decoder(model, tmp_path / "vit_b_decoder.onnx")
    session = onnx_session(path)
    assert session.get_inputs()[0].shape == [1, 256, 64, 64]
    report = check_decoder_parity(model, path, random_cases(model, max_points=10))
    assert report.passed(1e-4), report.summary()


def test_parity_tolerance_scales_with_the_output():
    """A trained decoder's logits reach tens: 3.3e-4 off a value of 33 is float32 rounding (1e-5
    relative) and passes; the same difference on outputs below 1 does not."""
    from samkit.export.parity import ParityReport

    large = ParityReport()
    large.update("masks", 3.3e-4, 33.2)
    assert large.passed(1e-4)
    small = ParityReport()
    small.update("iou_predictions", 3.3e-4, 0.6)
    assert not small.passed(1e-4)
    assert not ParityReport().passed(1e-4)  # nothing compared is not a pass
