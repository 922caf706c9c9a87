"""`samkit segment IMAGE --text WORDS`: masks written, and one line + exit 2 for what cannot work."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from text_prompt_fixtures import tiny_text_model

from samkit import build_sam, save_checkpoint
from samkit.cli.main import main


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    d = tmp_path_factory.mktemp("text_ckpt")
    save_checkpoint(tiny_text_model(), d / "text.safetensors")
    save_checkpoint(build_sam("tiny"), d / "plain.safetensors")
    return d


@pytest.fixture()
def photo(tmp_path, synthetic_image):
    path = tmp_path / "photo.png"
    Image.fromarray(synthetic_image).save(path)
    return path


def test_text_alone_writes_the_best_mask_and_records_the_text(checkpoints, photo, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["segment", str(photo), "--text", "teddy bear", "--checkpoint", str(checkpoints / "text.safetensors"),
               "--out", str(out)])
    assert rc == 0
    result = json.loads((out / "photo.json").read_text())
    assert result["prompts"]["text"] == "teddy bear" and len(result["masks"]) == 1
    assert (out / "photo.mask.png").is_file() and (out / "photo.overlay.png").is_file()
    rc = main(["segment", str(photo), "--text", "dog", "--point", "120,100", "--multimask", "--checkpoint",
               str(checkpoints / "text.safetensors"), "--out", str(tmp_path / "out2")])
    assert rc == 0 and len(json.loads((tmp_path / "out2" / "photo.json").read_text())["masks"]) == 3


@pytest.mark.parametrize("ckpt, text, message", [
    ("text.safetensors", "zebra", "unknown word 'zebra'"),
    ("text.safetensors", "", "empty text prompt"),
    ("plain.safetensors", "dog", "has no text prompt path"),
])
def test_unusable_text_is_one_line_and_exit_2(checkpoints, photo, tmp_path, ckpt, text, message, capsys):
    rc = main(["segment", str(photo), "--text", text, "--checkpoint", str(checkpoints / ckpt),
               "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
