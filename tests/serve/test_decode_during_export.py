"""Decoding on the server while the page's decoders are exported in the background.

torch.export traces with the module's parameters swapped for fake tensors; when it traced the served
model itself, a decode request arriving during the export (a text prompt right after the server
started, or SAM 2's server decode while its page decoder exports) failed inside torch. The exports
now trace a copy (decoder_file.copy_for_export)."""

from __future__ import annotations

import numpy as np
import torch

from samkit.inference.predictor import SamPredictor
from samkit.serve.decoder_file import DecoderFile, copy_for_export


def test_export_copy_shares_only_the_image_encoder(tiny_model):
    copied = copy_for_export(tiny_model)
    assert copied.image_encoder is tiny_model.image_encoder
    assert copied.mask_decoder is not tiny_model.mask_decoder
    assert copied.prompt_encoder is not tiny_model.prompt_encoder
    for a, b in zip(copied.mask_decoder.parameters(), tiny_model.mask_decoder.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


def test_decodes_succeed_while_the_decoders_export(tiny_model, tmp_path):
    """The served model decodes (as ServerDecoder does, through its predictor) over and over while
    both page decoders export in the background: every answer is the same as before the export."""
    predictor = SamPredictor(tiny_model)
    predictor.set_image((np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8))
    click = dict(point_coords=np.array([[30.0, 20.0]]), point_labels=np.array([1]))
    reference = predictor.predict(**click, return_logits=True)[2]

    exports = DecoderFile(tiny_model, tmp_path / "models")
    exports.start()
    decodes = 0
    while not (exports._done.is_set() and exports._split_done.is_set()):
        np.testing.assert_allclose(predictor.predict(**click, return_logits=True)[2], reference, atol=1e-6)
        decodes += 1
    assert exports.error is None and exports.split_error is None
    assert decodes > 0
