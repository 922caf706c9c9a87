"""The built-in model ships with a text path whose vocabulary is the 80 COCO category names."""

from __future__ import annotations

from pathlib import Path

import pytest

import samkit
from samkit.default_model import DEFAULT_WEIGHTS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chelsea.png"  # CC0, scikit-image


@pytest.fixture(scope="module")
def builtin():
    model = samkit.load_model()
    assert getattr(model, "text_encoder", None) is not None, (
        f"{DEFAULT_WEIGHTS} has no text path: after retraining the built-in model, rerun "
        "`python -m samkit.training.text_train` (docs/text-prompts.md)")
    return model


def test_builtin_vocabulary_is_the_coco_category_names(builtin):
    phrases = builtin.text_encoder.tokenizer.phrases
    assert len(phrases) == 80 and {"person", "dog", "traffic light", "teddy bear", "hair drier"} <= set(phrases)
    training = builtin.text_encoder.config.training
    assert "val_fraction 0.15" in training["split"] and training["photos"] == 252


def test_builtin_segments_from_a_name_and_refuses_other_words(builtin):
    predictor = samkit.SamPredictor(builtin)
    predictor.set_image(samkit.load_image(EXAMPLE))
    pred = predictor.segment(text="cat")
    assert pred.masks.shape == (3, 300, 451)
    with pytest.raises(samkit.InputError, match="unknown word 'unicorn'.*'airplane'"):
        predictor.segment(text="unicorn")
