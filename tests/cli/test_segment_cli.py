"""`samkit segment` end to end, and its refusal of bad input (one line, exit 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from samkit import build_sam, save_checkpoint
from samkit.cli.main import main


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    model = build_sam("tiny")
    torch.save(model.state_dict(), d / "official_style.pth")
    save_checkpoint(model, d / "samkit.safetensors")
    return d


@pytest.fixture()
def photo(tmp_path, synthetic_image):
    path = tmp_path / "photo.png"
    Image.fromarray(synthetic_image).save(path)
    return path


@pytest.mark.parametrize("ckpt_args", [["--checkpoint", "official_style.pth", "--model", "tiny"],
                                       ["--checkpoint", "samkit.safetensors"]])
def test_segment_writes_masks_overlay_and_json(checkpoints, photo, tmp_path, ckpt_args, capsys):
    ckpt_args = [str(checkpoints / a) if a.endswith((".pth", ".safetensors")) else a for a in ckpt_args]
    out = tmp_path / "out"
    rc = main(["segment", str(photo), "--point", "120,100", "--point", "300,220,0", "--box", "50,40,260,200",
               "--out", str(out), *ckpt_args])
    assert rc == 0
    result = json.loads((out / "photo.json").read_text())
    assert result["width"] == 400 and result["height"] == 300
    assert result["prompts"]["point_labels"] == [1, 0]
    (rec,) = result["masks"]
    mask = np.array(Image.open(out / rec["file"]))
    assert mask.shape == (300, 400) and set(np.unique(mask)) <= {0, 255}
    assert rec["area"] == int((mask > 0).sum())
    overlay = np.array(Image.open(out / "photo.overlay.png"))
    assert overlay.shape == (300, 400, 3)
    assert "mask(s)" in capsys.readouterr().out


def test_multimask_writes_three(checkpoints, photo, tmp_path):
    out = tmp_path / "out"
    assert main(["segment", str(photo), "--point", "120,100", "--multimask", "--out", str(out),
                 "--checkpoint", str(checkpoints / "samkit.safetensors")]) == 0
    assert len(json.loads((out / "photo.json").read_text())["masks"]) == 3
    assert len(list(out.glob("photo.mask*.png"))) == 3


@pytest.mark.parametrize("argv, message", [
    (["--point", "900,10"], "outside the 400x300 image"),
    (["--point", "1,a"], "invalid point"),
    (["--box", "1,2,3"], "invalid box"),
    ([], "at least one --point"),
    (["--point", "1,1", "--model", "vit_zz"], "unknown model preset"),
])
def test_bad_arguments_give_one_line(checkpoints, photo, tmp_path, argv, message, capsys):
    args = ["segment", str(photo), "--out", str(tmp_path / "o"), *argv]
    if "--model" not in argv:
        args += ["--checkpoint", str(checkpoints / "samkit.safetensors")]
    try:
        rc = main(args)
    except SystemExit as e:  # argparse rejects malformed flags itself
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_existing_results_are_not_overwritten(checkpoints, photo, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["segment", str(photo), "--point", "10,10", "--out", str(out), "--checkpoint", str(checkpoints / "samkit.safetensors")]
    assert main(args) == 0
    before = (out / "photo.json").read_text()
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "photo.json").read_text() == before
    assert main(args + ["--overwrite"]) == 0


def test_broken_image_and_checkpoint_in_a_real_process(checkpoints, tmp_path):
    """Run the installed entry point as a user would: one clear line, exit 2, no traceback."""
    bad_img = tmp_path / "broken.jpg"
    bad_img.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    bad_ckpt = tmp_path / "sam_vit_b.pth"
    bad_ckpt.write_bytes(b"PK\x03\x04 truncated")
    good_img = tmp_path / "ok.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(good_img)
    for image, ckpt, expect in [(bad_img, checkpoints / "samkit.safetensors", "broken.jpg"),
                                (good_img, bad_ckpt, "sam_vit_b.pth")]:
        proc = subprocess.run([sys.executable, "-m", "samkit", "segment", str(image), "--point", "5,5", "--out",
                               str(tmp_path / "o"), "--checkpoint", str(ckpt)], capture_output=True, text=True,
                              env={**__import__("os").environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[2] / "src")})
        assert proc.returncode == 2, proc.stderr
        assert expect in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
