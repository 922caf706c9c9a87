"""The text path on the model: one more sparse token, checkpoints with and without it, the predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open
from text_prompt_fixtures import NAMES, tiny_text_model

from samkit import InputError, SamPredictor, build_sam, load_model, save_checkpoint
from samkit.build import load_checkpoint
from samkit.config_text import TEXT_PROMPT_KEY
from samkit.errors import CheckpointError
from samkit.modeling.text_encoder import append_text_token


def test_text_token_is_appended_after_point_and_box_tokens():
    model = tiny_text_model()
    c = model.prompt_encoder.embed_dim
    tok = model.text_encoder.encode_text(["dog", "teddy bear"])
    assert tok.shape == (2, 1, c)
    sparse, _ = model.prompt_encoder(points=(torch.zeros(2, 3, 2), torch.ones(2, 3, dtype=torch.int)), boxes=None,
                                     masks=None)
    both = append_text_token(sparse, tok)
    assert both.shape == (2, 5, c) and torch.equal(both[:, :4], sparse) and torch.equal(both[:, 4:], tok)
    alone = append_text_token(torch.empty(1, 0, c), tok)  # text only: a batch of texts, no other prompt
    assert alone.shape == (2, 1, c)
    with pytest.raises(ValueError, match="do not match"):
        append_text_token(torch.zeros(3, 2, c), tok)


def test_different_names_give_different_tokens_and_open_clip_style_eot_pooling():
    model = tiny_text_model()
    a, b = model.text_encoder.encode_text(["traffic light", "teddy bear"])
    assert not torch.allclose(a, b)
    # the causal tower pools at the end-of-text token: padding after it changes nothing
    tokens = model.text_encoder.tokenizer(["dog"])  # SOT dog EOT PAD ...
    torch.testing.assert_close(model.text_encoder.tower(tokens), model.text_encoder.tower(tokens[:, :3]))
    tokens[0, 5] = 7  # a later token does not reach the pooled one either
    torch.testing.assert_close(model.text_encoder.tower(tokens), model.text_encoder.tower(tokens[:, :3]))


@pytest.fixture()
def predictor(synthetic_image):
    pred = SamPredictor(tiny_text_model())
    pred.set_image(synthetic_image)
    return pred


def test_segment_with_text_alone_or_with_points_and_box(predictor):
    alone = predictor.segment(text="dog")
    assert alone.masks.shape == (3, 300, 400) and alone.iou_predictions.shape == (3,)
    assert alone.stability_scores.shape == (3,) and alone.low_res_logits.shape[0] == 3
    other = predictor.segment(text="cat")
    assert not np.array_equal(alone.low_res_logits, other.low_res_logits)
    with_points = predictor.segment(point_coords=[[100, 80]], point_labels=[1], text="dog", multimask_output=False)
    without = predictor.segment(point_coords=[[100, 80]], point_labels=[1], multimask_output=False)
    assert with_points.masks.shape == (1, 300, 400)
    assert not np.array_equal(with_points.low_res_logits, without.low_res_logits)
    boxed = predictor.segment(box=np.array([50, 40, 260, 200]), text="teddy bears", mask_input=without.low_res_logits)
    assert boxed.masks.shape == (3, 300, 400)
    masks, iou, low = predictor.predict(text="traffic light", multimask_output=False)
    assert masks.shape == (1, 300, 400) and masks.dtype == bool


def test_text_path_matches_the_plain_decoder(predictor):
    """The folded fast decoder (no mask input) and the plain mask decoder agree with a text token."""
    fast = predictor.segment(point_coords=[[100, 80]], point_labels=[1], text="dog").low_res_logits
    model = predictor.model
    coords = torch.as_tensor(predictor.transform.apply_coords(np.array([[[100.0, 80.0]]]), (300, 400))).float()
    sparse, dense = model.prompt_encoder(points=(coords, torch.ones(1, 1, dtype=torch.int)), boxes=None, masks=None)
    sparse = append_text_token(sparse, model.text_encoder.encode_text("dog"))
    with torch.no_grad():
        low, _ = model.mask_decoder(predictor.features, model.prompt_encoder.get_dense_pe(), sparse, dense, True)
    np.testing.assert_allclose(fast, low[0].numpy(), atol=1e-4)


def test_unknown_word_and_a_model_without_text_path_are_input_errors(predictor, synthetic_image):
    with pytest.raises(InputError, match="'zebra'.*'dog'"):
        predictor.segment(text="zebra")
    with pytest.raises(InputError, match="empty"):
        predictor.segment(text="")
    plain = SamPredictor(build_sam("tiny"))
    plain.set_image(synthetic_image)
    with pytest.raises(InputError, match="no text prompt path"):
        plain.segment(text="dog")


def test_checkpoint_round_trip_with_and_without_the_text_path(tmp_path, synthetic_image):
    model = tiny_text_model()
    path = save_checkpoint(model, tmp_path / "text.safetensors")
    with safe_open(str(path), "pt") as f:
        assert TEXT_PROMPT_KEY in f.metadata()
        assert any(k.startswith("text_encoder.") for k in f.keys())
    loaded = load_model(checkpoint=path)
    assert loaded.text_encoder.tokenizer.phrases == NAMES
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    a, b = SamPredictor(model), SamPredictor(loaded)
    a.set_image(synthetic_image), b.set_image(synthetic_image)
    np.testing.assert_array_equal(a.segment(text="dog").low_res_logits, b.segment(text="dog").low_res_logits)
    # without a text path: official-style keys only, nothing added
    plain = build_sam("tiny")
    p2 = save_checkpoint(plain, tmp_path / "plain.safetensors")
    with safe_open(str(p2), "pt") as f:
        assert TEXT_PROMPT_KEY not in f.metadata() and not any(k.startswith("text_encoder") for k in f.keys())
    assert getattr(load_checkpoint(p2), "text_encoder", None) is None
    assert set(plain.state_dict()) == set(k for k in model.state_dict() if not k.startswith("text_encoder."))


def test_broken_text_metadata_is_a_checkpoint_error(tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(tiny_text_model(), tmp_path / "text.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
    meta[TEXT_PROMPT_KEY] = '{"kind": "word", "bogus": 1}'
    save_file(load_file(str(path)), str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match=TEXT_PROMPT_KEY):
        load_checkpoint(tmp_path / "bad.safetensors")
