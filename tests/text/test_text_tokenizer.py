"""The word-level tokenizer of samkit's own text tower: ids, plurals/articles, and clear errors."""

from __future__ import annotations

import pytest

from samkit.errors import InputError
from samkit.modeling.text_tokenizer import EOT_ID, PAD_ID, SOT_ID, WordTokenizer

NAMES = ("dog", "traffic light", "teddy bear", "cat", "hot dog")


def test_phrases_become_sot_words_eot_then_padding():
    tok = WordTokenizer(NAMES, context_length=6)
    ids = tok(["traffic light", "dog"])
    assert ids.shape == (2, 6)
    assert ids[0, 0] == SOT_ID and ids[0, 3] == EOT_ID and (ids[0, 4:] == PAD_ID).all()
    assert ids[1, 2] == EOT_ID and ids[0, 1] != ids[0, 2]
    assert tok.vocab_size == 3 + len({"dog", "traffic", "light", "teddy", "bear", "cat", "hot"})


def test_case_punctuation_articles_and_plurals_map_to_the_same_ids():
    tok = WordTokenizer(NAMES)
    assert tok.encode("Dog") == tok.encode("a dog") == tok.encode("dogs") == tok.encode(" the DOG! ")
    assert tok.encode("Traffic-Light") == tok.encode("traffic light")


@pytest.mark.parametrize("text, words", [("zebra", ["'zebra'", "'dog'"]), ("hot zebra", ["'zebra'"]),
                                         ("", ["empty", "'dog'"]), ("  ", ["empty"]), ("?!", ["empty"])])
def test_unknown_or_empty_text_is_an_input_error_naming_it(text, words):
    with pytest.raises(InputError) as e:
        WordTokenizer(NAMES).encode(text)
    assert all(w in str(e.value) for w in words)


def test_a_long_vocabulary_is_listed_briefly():
    names = tuple(f"thing{i}" for i in range(50))
    with pytest.raises(InputError, match=r"\.\.\. \(50 names"):
        WordTokenizer(names).encode("zebra")


def test_too_many_words_and_non_strings_are_refused():
    tok = WordTokenizer(NAMES, context_length=4)
    with pytest.raises(InputError, match="at most 2"):
        tok.encode("dog cat dog")
    with pytest.raises(InputError, match="string"):
        tok.encode(3)
    with pytest.raises(ValueError, match="too short"):
        WordTokenizer(("a b c d",), context_length=4)
