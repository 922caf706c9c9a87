"""app.state.swap_model (the data engine adopting a retrained model) replaces every decoder the page
can fetch, SAM 2's page decoder included, so the page never decodes with the old model's heads."""

import torch

from samkit.build import load_model
from samkit.serve import create_app


def test_swap_model_replaces_the_sam2_page_decoder(tmp_path):
    torch.manual_seed(0)
    old, new = load_model("sam2_test_tiny", device="cpu"), load_model("sam2_test_tiny", device="cpu")
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>t</title>")
    app = create_app(tmp_path / "images", old, static_dir=static, export_decoder_on_start=False)
    assert app.state.sam2_decoder_file.model is old
    app.state.swap_model(new)
    assert app.state.sam2_decoder_file.model is new and app.state.server_decoder is not None
    app.state.embeddings.stop(timeout=0)
