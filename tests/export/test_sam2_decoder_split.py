"""SAM 2's split decoder for the page (export/sam2_decoder_split.py) against samkit's SAM2ImagePredictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samkit.export.sam2_decoder_split import SAM2_PROMPT_INPUTS, SAM2_SIDE_NAMES, export_sam2_split_decoder
from samkit.export.parity import onnx_session
from samkit.export.sam2_split_parity import Sam2Case, check_sam2_split_parity, random_sam2_cases


@pytest.fixture(scope="module")
def sam2(one_torch_thread, tmp_path_factory):
    from samkit.build import load_model
    from samkit.inference.sam2_predictor import SAM2ImagePredictor

    torch.manual_seed(0)
    model = load_model("sam2_test_tiny", device="cpu")
    predictor = SAM2ImagePredictor(model)
    predictor.set_image((np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8))
    folder = tmp_path_factory.mktemp("sam2_split")
    paths = export_sam2_split_decoder(model, folder / "image.onnx", folder / "prompt.onnx")
    return model, predictor.get_embedding(), paths


def test_names_and_shapes(sam2):
    model, _, (image, prompt) = sam2
    image_s, prompt_s = onnx_session(image), onnx_session(prompt)
    assert [i.name for i in image_s.get_inputs()] == ["image_embed", "feat_s0", "feat_s1"]
    assert [o.name for o in image_s.get_outputs()] == SAM2_SIDE_NAMES
    assert [i.name for i in prompt_s.get_inputs()] == SAM2_PROMPT_INPUTS
    assert [o.name for o in prompt_s.get_outputs()] == ["low_res_masks", "iou_predictions", "object_score_logits"]
    assert prompt_s.get_modelmeta().custom_metadata_map["samkit.kind"] == "sam2-decoder-prompt"


def test_same_answers_as_sam2_image_predictor(sam2):
    model, embedding, paths = sam2
    cases = random_sam2_cases(12)
    assert any(c.box_xyxy is not None for c in cases) and {len(c.points_xy) for c in cases} == {1, 2, 3}
    report = check_sam2_split_parity(model, *paths, embedding, cases)
    assert report.num_cases == 12
    assert max(report.max_abs_diff.values()) < 1e-4, report.summary()
    assert min(report.mask_ious) >= 0.999, report.summary()


def test_box_only_and_object_score(sam2):
    from samkit.export.sam2_split_parity import Sam2SplitRunner

    model, embedding, paths = sam2
    case = Sam2Case((300, 400), None, None, np.array([40.0, 30.0, 250.0, 200.0], np.float32))
    report = check_sam2_split_parity(model, *paths, embedding, [case])
    assert max(report.max_abs_diff.values()) < 1e-4, report.summary()
    runner = Sam2SplitRunner(*paths)
    runner.set_features(*(t.float().numpy() for t in (embedding.image_embed, *embedding.high_res_feats)))
    _, _, score = runner.run(case.feed(int(model.image_size)))
    # The object-score head on the object-score token, as the PyTorch decoder computes it.
    coords = torch.tensor([[[40.0, 30.0], [250.0, 200.0]]]) * torch.tensor([model.image_size / 400, model.image_size / 300])
    sparse, dense = model.sam_prompt_encoder(points=(coords, torch.tensor([[2, 3]])), boxes=None, masks=None)
    feats = embedding.high_res_feats
    *_, want = model.sam_mask_decoder(image_embeddings=embedding.image_embed, image_pe=model.sam_prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True,
                                      repeat_image=False, high_res_features=feats)
    np.testing.assert_allclose(score, want.detach().numpy(), atol=1e-4)
