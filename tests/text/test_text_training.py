"""Training the text path: data from COCO categories (train side only), a few steps, the packaged file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from samkit import build_sam, save_checkpoint
from samkit.build import load_checkpoint
from samkit.data.splits import held_out
from samkit.training.text_data import category_objects, lowres_target
from samkit.training.text_train import masks_loss, parse_args, train

CATEGORIES = [{"id": 1, "name": "dog"}, {"id": 2, "name": "traffic light"}]


def _square(x0, y0, s):
    return [[x0, y0, x0 + s, y0, x0 + s, y0 + s, x0, y0 + s]]


@pytest.fixture()
def coco(tmp_path):
    root = tmp_path / "coco"
    (root / "images" / "train2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    images, anns = [], []
    rng = np.random.default_rng(0)
    for i in range(12):
        name = f"{i:012d}.jpg"
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(root / "images" / "train2017" / name)
        images.append({"id": i, "file_name": name, "height": 60, "width": 80})
        for k, (x, y, s, cat) in enumerate([(5, 5, 20, 1), (40, 20, 30, 1), (10, 35, 15, 2)]):
            anns.append({"id": 100 * i + k, "image_id": i, "category_id": cat, "iscrowd": 0, "area": float(s * s),
                         "segmentation": _square(x, y, s), "bbox": [x, y, s, s]})
    (root / "annotations" / "instances_train2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": CATEGORIES}))
    return root


def test_category_objects_keep_the_largest_instance_and_only_the_train_side(coco):
    ann = coco / "annotations" / "instances_train2017.json"
    photos, names = category_objects(ann, "train", 0.4, 0, min_area_px=0)
    assert names == ["dog", "traffic light"]
    assert photos and all(not held_out(p["file_name"], 0.4, 0) for p in photos)
    assert len(photos) < 12  # some photos are held out at this fraction
    assert photos[0]["objects"]["dog"] == _square(40, 20, 30)  # the larger dog
    small_skipped, _ = category_objects(ann, "train", 0.4, 0, min_area_px=300)
    assert "traffic light" not in small_skipped[0]["objects"]


def test_lowres_target_is_in_the_padded_model_input_frame():
    mask = np.zeros((60, 80), bool)
    mask[:, :40] = True  # left half
    t = lowres_target(mask, (48, 64), img_size=64, lowres=16)
    assert t.shape == (16, 16)
    assert t[:12, :8].all() and not t[:, 8:].any() and not t[12:].any()  # bottom rows are padding


def test_masks_loss_backpropagates_only_the_best_of_three():
    target = torch.zeros(2, 8, 8)
    target[:, :4] = 1
    logits = torch.full((2, 3, 8, 8), -5.0)
    logits[:, 1, :4] = 5.0  # output 1 is right
    logits.requires_grad_(True)
    loss, iou = masks_loss(logits, torch.zeros(2, 3, requires_grad=True), target)
    loss.backward()
    assert torch.allclose(iou, torch.ones(2))
    g = logits.grad.abs().sum((0, 2, 3))
    assert g[1] > 0 and g[0] == 0 and g[2] == 0


def test_a_short_run_writes_a_checkpoint_whose_points_are_unchanged(coco, tmp_path):
    torch.manual_seed(0)
    base = save_checkpoint(build_sam("tiny"), tmp_path / "base.safetensors")
    out = tmp_path / "with_text.safetensors"
    args = parse_args(["--data", str(coco), "--checkpoint", str(base), "--run-dir", str(tmp_path / "run"),
                       "--output", str(out), "--steps", "4", "--batch", "4", "--warmup", "1", "--width", "16",
                       "--layers", "1", "--heads", "2", "--save-every", "2", "--val-fraction", "0.2"])
    train(args)
    model = load_checkpoint(out)
    assert model.text_encoder.tokenizer.phrases == ("dog", "traffic light")
    prov = model.text_encoder.config.training
    assert prov["steps"] == 4 and "val_fraction 0.2" in prov["split"] and len(prov["annotations_sha256"]) == 64
    assert (tmp_path / "run" / "state.pt").is_file() and (tmp_path / "run" / "embeddings.pt").is_file()
    # rerunning resumes at the saved step (nothing left to do) and rewrites the same output
    args.steps = 4
    train(args)
    assert "resumed at step 4" in (tmp_path / "run" / "log.txt").read_text()
