"""A corpus of broken and odd files through the CLI: every run works or ends with exit 2 and one
line on stderr naming the file (a folder run skips and reports its bad files), never a traceback.

The corpus (robustness/broken_files.py) is built here, not stored: zero-byte, truncated, wrong
extension, decompression bombs, every PIL mode, 1 px and 3 x 20000 images; then COCO files with
corrupt geometry for `eval`, broken configs and data for `finetune`, broken checkpoints, and broken
videos for `track`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from robustness.broken_files import build_image_corpus
from samkit import build_sam, save_checkpoint
from samkit.cli.main import main

REFUSE, WORK = "refuse", "work"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, build_image_corpus(folder)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, one_torch_thread):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(build_sam("tiny"), path)
    return path


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def _refused(code: int, err: str, name: str) -> None:
    # Progress bars (tqdm, on stderr) may have drawn before the error: they are not messages.
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and "%|" not in line]
    assert code == 2 and len(lines) == 1, (name, code, err)
    assert lines[0].startswith("samkit ") and "error:" in lines[0], lines


def test_segment_every_corpus_image(corpus, checkpoint, tmp_path, capsys):
    folder, verdicts = corpus
    outcome = {}
    for name, verdict in sorted(verdicts.items()):
        code, err = _run(capsys, ["segment", folder / name, "--point", "0,0", "--out", tmp_path / name,
                                  "--checkpoint", checkpoint, "--device", "cpu"])
        outcome[name] = WORK if code == 0 else REFUSE
        if verdict == REFUSE:
            _refused(code, err, name)
            assert name in err
        else:
            assert code == 0, (name, err)
            h, w = np.asarray(Image.open(folder / name)).shape[:2] if name.endswith("png") else (None, None)
            if h is not None:  # masks come back at the image's own size, however thin
                (mask_png,) = (tmp_path / name).glob("*.mask*.png")
                assert np.asarray(Image.open(mask_png)).shape == (h, w)
    assert outcome == verdicts


def test_auto_folder_run_skips_and_reports_the_bad_files(corpus, checkpoint, tmp_path, capsys):
    folder, verdicts = corpus
    out = tmp_path / "auto"
    code, err = _run(capsys, ["auto", folder, "--out", out, "--checkpoint", checkpoint, "--device", "cpu",
                              "--points-per-side", "2", "--no-overlay"])
    files = {name for name in verdicts if (folder / name).is_file()}
    bad = {name for name in files if verdicts[name] == REFUSE}
    assert code == 1  # some images failed; the rest are done
    skipped = {line.split("skipped ", 1)[1].split(":", 1)[0].rsplit("/", 1)[-1]
               for line in err.splitlines() if "samkit auto: skipped" in line}
    assert skipped == bad
    done = {p.name.removesuffix(".json") for p in out.glob("*.json") if not p.name.startswith("coco_")}
    assert done == files - bad
    assert len(json.loads((out / "coco_images.json").read_text())) == len(files - bad)


def _coco_with_corrupt_geometry(root):
    images = root / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(images / "a.png")
    good = [10, 10, 30, 10, 30, 30, 10, 30]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 400.0, "segmentation": [good]},
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 10.0, "segmentation": [[1, 2, 3]]},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 10.0,
         "segmentation": {"size": [40, 50], "counts": "garbage!!"}},
        {"id": 4, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 10.0,
         "segmentation": {"size": [4000, 50], "counts": [5, 5]}},
        {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [[1e300, 2, 3, 4, 5, 6]]},
        {"id": 6, "image_id": 99, "category_id": 1, "iscrowd": 0, "area": 10.0, "segmentation": [good]},
        {"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": "big", "segmentation": [good]},
        "not an annotation",
    ]
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 50},
                      {"id": 2, "file_name": "b.png", "height": -1, "width": 50}],
           "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}
    path = root / "annotations" / "instances_val.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    return path


def test_eval_reads_coco_with_corrupt_geometry(tmp_path, capsys):
    ann = _coco_with_corrupt_geometry(tmp_path / "coco")
    code, err = _run(capsys, ["eval", "--model", "grabcut", "--data", ann, "--images", tmp_path / "coco" / "images",
                              "--protocol", "box", "--out", tmp_path / "eval"])
    assert code == 0, err
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert "grabcut" in json.dumps(results)


def _broken_data_files(root):
    root.mkdir()
    (root / "empty.json").write_bytes(b"")
    (root / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "list.json").write_text("[1, 2, 3]")
    (root / "coco_no_images.json").write_text(json.dumps({"images": 3, "annotations": []}))
    (root / "no_folder").write_text("")
    return ["empty.json", "binary.json", "list.json", "coco_no_images.json", "missing.json"]


def test_eval_and_finetune_refuse_broken_data(checkpoint, tmp_path, capsys):
    names = _broken_data_files(tmp_path / "data")
    for name in names:
        path = tmp_path / "data" / name
        code, err = _run(capsys, ["eval", "--model", "grabcut", "--data", path, "--protocol", "box",
                                  "--out", tmp_path / "eval" / name])
        _refused(code, err, f"eval {name}")
        code, err = _run(capsys, ["finetune", "--checkpoint", checkpoint, "--data", path, "--run.max-steps", "1",
                                  "--run.run-dir", tmp_path / "ft" / name, "--run.device", "cpu"])
        _refused(code, err, f"finetune {name}")


def test_finetune_refuses_broken_configs(checkpoint, tmp_path, capsys):
    configs = {"truncated.toml": '[run]\nmax_steps = 1\n[data\n', "binary.toml": "\x00\x01\x02",
               "wrong_types.toml": '[run]\nmax_steps = "many"\n', "unknown_key.toml": "[run]\nmax_stepz = 1\n",
               "empty.yaml": "", "list.yaml": "- 1\n- 2\n"}
    for name, text in configs.items():
        path = tmp_path / name
        path.write_text(text)
        code, err = _run(capsys, ["finetune", "--checkpoint", checkpoint, "--config", path,
                                  "--run.run-dir", tmp_path / "ft" / name])
        _refused(code, err, name)


def test_broken_checkpoints_are_refused(corpus, tmp_path, capsys, checkpoint):
    folder, _ = corpus
    good = checkpoint.read_bytes()
    broken = {"zero.pth": b"", "truncated.safetensors": good[: len(good) // 2], "garbage.pt": b"\x80\x02garbage" * 50,
              "text.pth": b"not a checkpoint\n", "header_only.safetensors": good[:8]}
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)
        code, err = _run(capsys, ["segment", folder / "one_pixel.png", "--point", "0,0", "--out", tmp_path / "o",
                                  "--checkpoint", tmp_path / name, "--model", "tiny"])
        _refused(code, err, name)


def test_track_refuses_broken_videos(tmp_path, capsys):
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video")
    frames = tmp_path / "frames"
    frames.mkdir()
    rgb = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(frames / "00000.jpg")
    (frames / "00001.jpg").write_bytes((frames / "00000.jpg").read_bytes()[:40])  # truncated second frame
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    for video in ("zero.mp4", "text.mp4", "frames", "empty_folder"):
        code, err = _run(capsys, ["track", tmp_path / video, "--point", "1,1", "--out", tmp_path / "t" / video,
                                  "--model", "sam2_test_tiny", "--device", "cpu"])
        _refused(code, err, video)


def test_a_real_process_prints_one_line(corpus, checkpoint, tmp_path):
    """The same through `python -m samkit` (what a user runs): exit 2, one line, no traceback."""
    folder, _ = corpus
    proc = subprocess.run([sys.executable, "-m", "samkit", "segment", str(folder / "bomb_30000x30000.png"),
                           "--point", "1,1", "--out", str(tmp_path / "o"), "--checkpoint", str(checkpoint)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "900 MP exceeds the 200 MP limit" in proc.stderr and "SAMKIT_MAX_IMAGE_MP" in proc.stderr
