"""The open_clip adapter: open_clip's model definitions and tokenizer as SAM's text tower, a user's
open_clip checkpoint loaded unchanged, and the paper's recipe (CLIP image embedding of crops in
training, text at inference). Random weights, a tiny custom open_clip config; open_clip is installed
`--no-deps` by scripts/setup.sh and imported through a torchvision stand-in (tests/open_clip_stand_in.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("ftfy")
pytest.importorskip("regex")
from open_clip_stand_in import install_open_clip_stand_in  # noqa: E402

install_open_clip_stand_in()
open_clip = pytest.importorskip("open_clip")

from samkit import InputError, SamPredictor, build_sam, save_checkpoint  # noqa: E402
from samkit.build import load_checkpoint  # noqa: E402
from samkit.builder_text import add_text_encoder, open_clip_text_encoder  # noqa: E402
from samkit.training.text_clip_recipe import crop_boxes, crop_prompt_tokens, text_path_loss  # noqa: E402

NAME = "samkit-test-tiny-clip"
TINY_CLIP = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16,
                                             "head_width": 32},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def clip_checkpoint(tmp_path_factory):
    """A tiny open_clip config registered with open_clip, and a 'pretrained' checkpoint file of it."""
    d = tmp_path_factory.mktemp("open_clip")
    (d / f"{NAME}.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(d)
    torch.manual_seed(1)
    clip = open_clip.create_model(NAME, pretrained=None)
    torch.save(clip.state_dict(), d / "user_clip.pt")
    return d / "user_clip.pt", clip.state_dict()


@pytest.fixture()
def model(clip_checkpoint):
    torch.manual_seed(0)
    sam = build_sam("tiny")
    return add_text_encoder(sam, open_clip_text_encoder(NAME, sam.prompt_encoder.embed_dim,
                                                         pretrained=str(clip_checkpoint[0])))


def test_a_users_open_clip_checkpoint_loads_unchanged(model, clip_checkpoint):
    loaded = model.text_encoder.tower.clip.state_dict()
    for k, v in clip_checkpoint[1].items():
        assert torch.equal(loaded[k], v), k
    tokens = open_clip.get_tokenizer(NAME)(["a dog"])
    expected = model.text_encoder.tower.clip.encode_text(tokens)
    torch.testing.assert_close(model.text_encoder.tower(tokens), expected)
    assert model.text_encoder.encode_text("a dog").shape == (1, 1, model.prompt_encoder.embed_dim)


def test_predictor_with_open_clip_text_and_checkpoint_round_trip(model, synthetic_image, tmp_path):
    pred = SamPredictor(model)
    pred.set_image(synthetic_image)
    out = pred.segment(text="a photo of a zebra", point_coords=[[100, 80]], point_labels=[1])  # open vocabulary
    assert out.masks.shape == (3, 300, 400)
    with pytest.raises(InputError, match="empty"):
        pred.segment(text="  ")
    path = save_checkpoint(model, tmp_path / "sam_clip.safetensors")
    again = SamPredictor(load_checkpoint(path))
    again.set_image(synthetic_image)
    np.testing.assert_allclose(again.segment(text="a photo of a zebra", point_coords=[[100, 80]],
                                             point_labels=[1]).low_res_logits, out.low_res_logits, atol=1e-5)


def test_crop_prompts_train_the_projection_and_share_the_text_space(model):
    image = torch.rand(3, 60, 80)
    crops = crop_boxes(image, torch.tensor([[10.0, 5.0, 40.0, 50.0], [0.0, 0.0, 80.0, 60.0]]), 32)
    assert crops.shape == (2, 3, 32, 32)
    tokens = crop_prompt_tokens(model.text_encoder, image, torch.tensor([[10.0, 5.0, 40.0, 50.0]]))
    text_tokens = model.text_encoder.encode_text("a dog")
    assert tokens.shape == text_tokens.shape == (1, 1, model.prompt_encoder.embed_dim)
    emb = torch.randn(1, 64, 16, 16)
    target = torch.zeros(1, 64, 64)
    target[:, 10:30, 10:30] = 1
    loss, _ = text_path_loss(model, tokens, emb, target)
    loss.backward()
    assert model.text_encoder.proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.text_encoder.tower.parameters())  # CLIP stays frozen
