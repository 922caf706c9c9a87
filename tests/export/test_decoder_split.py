"""The page's split decoder: image graph once per image, prompt graph per click (export/decoder_split.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from samkit.export.decoder_split import PAD_LOGIT, PROMPT_INPUTS, SIDE_NAMES, export_split_decoder
from samkit.export.onnx_fusions import fuse_gelu
from samkit.export.parity import DecoderCase, onnx_session, random_cases
from samkit.export.split_parity import SplitDecoderRunner, check_split_parity, valid_low_res_hw


@pytest.fixture(scope="module")
def split_onnx(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    return export_split_decoder(tiny_model, folder / "image.onnx", folder / "prompt.onnx")


def test_names_shapes_and_metadata(split_onnx):
    image, prompt = (onnx_session(p) for p in split_onnx)
    assert [i.name for i in image.get_inputs()] == ["image_embeddings"]
    assert [o.name for o in image.get_outputs()] == SIDE_NAMES
    assert [i.name for i in prompt.get_inputs()] == PROMPT_INPUTS
    assert [o.name for o in prompt.get_outputs()] == ["low_res_masks", "iou_predictions"]
    shapes = {i.name: i.shape for i in prompt.get_inputs()}
    assert shapes["point_coords"] == [1, "num_points", 2] and shapes["side_img"] == [256, 64]
    assert prompt.get_outputs()[0].shape == [1, 4, 64, 64]
    assert prompt.get_modelmeta().custom_metadata_map["samkit.kind"] == "decoder-prompt"
    # The erf GELUs of the upscaling are one fused node each, no erf chain left.
    ops = [n.op_type for n in onnx.load(str(split_onnx[1])).graph.node]
    assert ops.count("Gelu") == 2 and "Erf" not in ops


def test_same_answers_as_pytorch_points_and_boxes_any_aspect_ratio(tiny_model, split_onnx):
    cases = [c for c in random_cases(tiny_model, max_points=6) if c.mask_input is None]
    cases += [c for c in random_cases(tiny_model, max_points=6, seed=1, orig_hws=[(640, 480), (1000, 1000), (2000, 1500)])
              if c.mask_input is None]
    assert {c.box_xyxy is None for c in cases} == {True, False} and len({c.orig_hw for c in cases}) == 6
    report = check_split_parity(tiny_model, *split_onnx, cases)
    assert report.num_cases == 24
    assert max(report.max_abs_diff.values()) < 1e-4, report.summary()
    assert report.min_mask_iou >= 0.999, report.summary()  # a pixel may sit on the threshold


@pytest.mark.parametrize("orig_hw", [(37, 211), (211, 37), (256, 256), (1, 1)])
def test_upscaling_is_skipped_only_outside_the_image(tiny_model, split_onnx, orig_hw):
    emb = np.random.default_rng(0).normal(size=(1, 64, 16, 16)).astype(np.float32)
    runner = SplitDecoderRunner(*split_onnx)
    runner.set_embedding(emb)
    case = DecoderCase(orig_hw, np.array([[3.0, 2.0]], np.float32), np.array([1]), None, None)
    low_res, _ = runner.run(case, emb)
    vh, vw = valid_low_res_hw(orig_hw, 256, (16, 16))
    assert (low_res[..., vh:, :] == PAD_LOGIT).all() and (low_res[..., :, vw:] == PAD_LOGIT).all()
    assert (low_res[..., :vh, :vw] != PAD_LOGIT).all()
    assert check_split_parity(tiny_model, *split_onnx, [case], torch.from_numpy(emb)).min_mask_iou >= 0.999


def test_point_count_is_dynamic(tiny_model, split_onnx):
    rng = np.random.default_rng(3)
    cases = [DecoderCase((300, 400), rng.uniform(0, 190, (n, 2)).astype(np.float32), rng.integers(0, 2, n), None, None)
             for n in (1, 9, 37)]
    report = check_split_parity(tiny_model, *split_onnx, cases)
    assert max(report.max_abs_diff.values()) < 1e-4, report.summary()


def test_int8_prompt_graph(tiny_model, tmp_path):
    image, prompt = export_split_decoder(tiny_model, tmp_path / "i.onnx", tmp_path / "p.int8.onnx", quantize=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.onnx", "p.int8.onnx"]  # no temporaries left
    ops = {n.op_type for n in onnx.load(str(prompt)).graph.node}
    assert "MatMulInteger" in ops and "Gelu" in ops
    report = check_split_parity(tiny_model, image, prompt, [c for c in random_cases(tiny_model, 5) if c.mask_input is None])
    assert np.mean(report.mask_ious) >= 0.97, report.summary()  # random weights: speckled masks


@pytest.mark.parametrize("orig_hw", [(480, 640), (640, 480)])
def test_upscaling_fold_is_the_same_function_in_float64(tiny_model, orig_hw):
    """upscale_fold.py's identity, checked where float32 rounding cannot hide an error: the folded first
    upscaling convolution (image part from the image graph) equals the plain one to ~1e-12."""
    import copy

    from samkit.export.decoder_split import SamImageSideOnnx, SamPromptOnnx
    from samkit.export.upscale_fold import image_part

    model = copy.deepcopy(tiny_model)
    with torch.no_grad():  # LayerNorm gains / biases away from 1 / 0, so each term of the fold matters
        for blk in model.mask_decoder.transformer.layers:
            blk.norm4.weight.uniform_(0.5, 1.5)
            blk.norm4.bias.normal_()
    c, (h, w) = model.prompt_encoder.embed_dim, model.prompt_encoder.image_embedding_size
    gen = torch.Generator().manual_seed(0)
    # The image graph in float32 (the dense PE grid is float32), its outputs and the rest in float64.
    side = [t.double() for t in SamImageSideOnnx(model)(torch.randn(1, c, h, w, generator=gen))[:-1]]
    model = model.double()
    side.append(image_part(model.mask_decoder, side[0]))
    coords = torch.rand(1, 3, 2, generator=gen, dtype=torch.float64) * 200
    labels = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)
    size = torch.tensor(orig_hw, dtype=torch.float64)
    folded = SamPromptOnnx(model)(coords, labels, size, *side)
    plain = SamPromptOnnx(model, fold_upscaling=False)(coords, labels, size, *side)
    assert side[-1].shape == (h * w, 4 * model.mask_decoder.output_upscaling[0].out_channels)
    assert (folded[0] > -30).any() and torch.equal(folded[1], plain[1])
    assert (folded[0] - plain[0]).abs().max() < 1e-10


def test_fuse_gelu_keeps_the_function():
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])
    consts = [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("s2", 2 ** 0.5), ("one", 1.0), ("half", 0.5))]
    nodes = [helper.make_node("Div", ["x", "s2"], ["a"]), helper.make_node("Erf", ["a"], ["b"]),
             helper.make_node("Add", ["b", "one"], ["c"]), helper.make_node("Mul", ["half", "c"], ["d"]),
             helper.make_node("Mul", ["x", "d"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], consts), opset_imports=[helper.make_opsetid("", 18)])
    before = onnx_run(model)
    assert fuse_gelu(model) == 1 and [n.op_type for n in model.graph.node] == ["Gelu"]
    np.testing.assert_allclose(onnx_run(model), before, atol=1e-6)
    np.testing.assert_allclose(before, torch.nn.functional.gelu(torch.linspace(-3, 3, 5)).numpy(), atol=1e-6)


def onnx_run(model) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.linspace(-3, 3, 5).astype(np.float32)})[0]
