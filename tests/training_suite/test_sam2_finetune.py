"""SAM 2 training end to end on tiny presets: a few steps lower the loss on a fixed clip, a resumed
run repeats the uninterrupted one exactly, and `samkit finetune` on a LabPics folder writes a
checkpoint that samkit and the official `sam2` package both load."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samkit.build import build_sam, load_model, save_checkpoint
from samkit.cli.main import main
from samkit.training.sam2_prompts import Sam2PromptConfig
from samkit.training.sam2_step import Sam2ClipStep

SIDE = 96


def write_labpics(root: Path, n_train: int = 4, n_test: int = 2) -> Path:
    """Simple/{Train,Test}/Image/*.jpg + Instance/*.png: a grey 'vessel' rectangle (red channel id)
    holding a coloured 'material' disc (blue channel id), at a different place in every image."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    for split, n in (("Train", n_train), ("Test", n_test)):
        (root / "Simple" / split / "Image").mkdir(parents=True)
        (root / "Simple" / split / "Instance").mkdir(parents=True)
        for i in range(n):
            image = (rng.random((SIDE, SIDE, 3)) * 40 + 20).astype(np.uint8)
            inst = np.zeros((SIDE, SIDE, 3), np.uint8)
            x0, y0 = rng.integers(5, 40, 2)
            vessel = (xx >= x0) & (xx < x0 + 45) & (yy >= y0) & (yy < y0 + 50)
            disc = (xx - x0 - 22) ** 2 + (yy - y0 - 32) ** 2 < 150
            image[vessel] = (170, 170, 180)
            image[disc] = (200, 60, 40)
            inst[vessel, 0] = 1
            inst[disc, 2] = 1
            Image.fromarray(image).save(root / "Simple" / split / "Image" / f"im{i}.jpg")
            Image.fromarray(inst).save(root / "Simple" / split / "Instance" / f"im{i}.png")
    return root


def tiny_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    save_checkpoint(build_sam("sam2_test_tiny"), path)
    return path


def fixed_clip(size: int):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(1, 2, 3, size, size, generator=g) * 0.3
    masks = torch.zeros(1, 2, 1, size, size, dtype=torch.bool)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for t in range(2):
        disc = (xx - 80 - 10 * t) ** 2 + (yy - 100) ** 2 < 900
        masks[0, t, 0] = disc
        images[0, t, 0][disc] += 1.5
    return images, masks, torch.tensor([[True]])


@pytest.mark.parametrize("use_points", [False, True])
def test_three_steps_lower_the_loss_on_a_fixed_clip(use_points):
    torch.manual_seed(0)
    sam = build_sam("sam2_test_tiny").train()
    prompts = Sam2PromptConfig(prob_to_use_pt_input=float(use_points), prob_to_use_box_input=0.0,
                               num_init_cond_frames=1, num_frames_to_correct=1, num_correction_pt_per_frame=1,
                               prob_to_sample_from_gt=0.0)
    step = Sam2ClipStep(sam, prompts, loss_grid="low_res")
    images, masks, valid = fixed_clip(sam.image_size)
    opt = torch.optim.AdamW([p for p in sam.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(4):
        loss, logs = step(images, masks, valid, seed=3)
        losses.append(float(loss.detach()))
        if len(losses) < 4:
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert all(np.isfinite(losses)) and losses[-1] < 0.9 * losses[0], losses


def sam2_config(data: Path, run_dir: Path, checkpoint: Path, **run) -> dict:
    return {
        "model": {"preset": "", "checkpoint": str(checkpoint)},
        "data": {"train": [{"path": str(data), "split": "train"}], "val": [{"path": str(data), "split": "test"}]},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "sam2": {"num_frames": 2, "max_objects": 2, "loss_grid": "low_res",
                 "prompts": {"num_correction_pt_per_frame": 1}},
        "run": {"run_dir": str(run_dir), "batch_size": 1, "max_steps": 3, "val_every": 0, "ckpt_every": 2,
                "log_every": 1, "progress": False, "threads": 1, **run},
    }


def test_resume_repeats_the_uninterrupted_run(tmp_path):
    from samkit.training import config_from_dict, run_training

    data = write_labpics(tmp_path / "labpics")
    ck = tiny_checkpoint(tmp_path / "tiny.safetensors")
    straight = run_training(config_from_dict(sam2_config(data, tmp_path / "a", ck)))
    # An interrupted run is the same run stopped after its step-2 checkpoint: continue from there.
    step2 = tmp_path / "a" / "checkpoints" / "step_000002"
    resumed = run_training(config_from_dict(sam2_config(data, tmp_path / "b", ck)), resume=str(step2))
    assert straight["step"] == resumed["step"] == 3
    a, b = straight["trainer"].sam.state_dict(), resumed["trainer"].sam.state_dict()
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    records = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert any("object_score" in r for r in records)


def test_finetune_cli_on_labpics_writes_samkit_and_official_checkpoints(tmp_path, capsys):
    data = write_labpics(tmp_path / "labpics")
    ck = tiny_checkpoint(tmp_path / "tiny.safetensors")
    run_dir = tmp_path / "ft"
    rc = main(["finetune", "--model", "sam2_test_tiny", "--checkpoint", str(ck), "--data", str(data), "--format",
               "labpics", "--mode", "frozen-encoder", "--run.run-dir", str(run_dir), "--run.max-steps", "2",
               "--run.val-every", "2", "--run.batch-size", "1", "--sam2.loss-grid", "low_res",
               "--sam2.prompts.num-correction-pt-per-frame", "1", "--no-run.progress", "--run.threads", "1"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and 0 <= summary["val"]["miou_box"] <= 1 and "j_mask" not in summary["val"]
    folder = run_dir / "checkpoints" / "step_000002"
    saved = (folder / "train_config.yaml").read_text()
    assert "num_frames: 1" in saved  # image data: SAM's task, one frame per example
    model = load_model(checkpoint=folder / "model.safetensors")
    official = torch.load(folder / "model_sam2.pt", map_location="cpu", weights_only=True)
    assert set(official) == {"model"}
    ours = model.state_dict()
    for k, v in official["model"].items():
        torch.testing.assert_close(v, ours[k], msg=k)
    # frozen encoder: the encoder did not move, the decoder did
    start = load_model(checkpoint=ck).state_dict()
    assert all(torch.equal(start[k], ours[k]) for k in ours if k.startswith("image_encoder."))
    assert any(not torch.equal(start[k], ours[k]) for k in ours if k.startswith("sam_mask_decoder."))


def test_official_layout_loads_into_the_sam2_package(tmp_path):
    pytest.importorskip("sam2")
    pytest.importorskip("hydra")
    from reference_sam2 import build_reference_sam2, reference_sam2_overrides

    from samkit.config_sam2 import get_sam2_preset
    from samkit.training.sam2_session import save_official_layout

    torch.manual_seed(1)
    sam = build_sam("sam2_test_tiny")
    save_official_layout(sam, tmp_path / "model_sam2.pt")
    config_file, overrides = reference_sam2_overrides(get_sam2_preset("sam2_test_tiny"))
    ref = build_reference_sam2(config_file, overrides)
    ref.load_state_dict(torch.load(tmp_path / "model_sam2.pt", map_location="cpu", weights_only=True)["model"],
                        strict=True)
    for k, v in sam.state_dict().items():
        torch.testing.assert_close(ref.state_dict()[k], v, msg=k)
