"""MAE pre-training: patch geometry, masking, the loss, learning, pictures, exact resume, DDP,
and the pretrained encoder loading into SAM training."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from samkit.build import build_sam, load_checkpoint
from samkit.errors import InputError
from samkit.training import config_from_dict, run_training
from samkit.training.config import config_from_dict as any_config_from_dict
from samkit.training.mae import MaeSection, MaskedAutoencoder, patchify, random_keep, unpatchify
from samkit.training.pretrain_config import PretrainConfig
from samkit.training.pretrain_session import run_pretraining
from samkit.training.trainer import Hook


def mae_config(data, run_dir, **run) -> PretrainConfig:
    d = {"model": {"preset": "tiny"}, "data": {"train": [{"path": str(data)}], "val_fraction": 0.25},
         "optim": {"lr": 1e-3, "warmup_steps": 1},
         "mae": {"decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2, "pictures": 2},
         "run": {"run_dir": str(run_dir), "batch_size": 2, "max_steps": 4, "val_every": 2, "ckpt_every": 2,
                 "log_every": 1, "progress": False, "threads": 1, **run}}
    return any_config_from_dict(d, PretrainConfig)


class StopAt(Hook):
    def __init__(self, step):
        self.at = step

    def after_step(self, t):
        if t.step >= self.at:
            t.stop_requested = True


def test_patchify_roundtrip_and_order():
    x = torch.randn(2, 3, 32, 32)
    p = patchify(x, 8)
    assert p.shape == (2, 16, 8 * 8 * 3)
    assert torch.equal(unpatchify(p, 8), x)
    # patch 1 is the second patch of the first row: columns 8..15 of rows 0..7
    assert torch.equal(p[0, 1].reshape(8, 8, 3), x[0, :, :8, 8:16].permute(1, 2, 0))


def test_random_keep_hides_the_ratio_and_is_seeded():
    gen = torch.Generator().manual_seed(3)
    keep, masked = random_keep(4, 64, 0.75, gen, torch.device("cpu"))
    assert keep.shape == (4, 16) and masked.sum(1).tolist() == [48] * 4
    assert not masked.gather(1, keep).any()  # kept tokens are exactly the unmasked ones
    keep2, _ = random_keep(4, 64, 0.75, torch.Generator().manual_seed(3), torch.device("cpu"))
    assert torch.equal(keep, keep2)


def test_loss_counts_only_masked_patches():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(build_sam("tiny"), MaeSection(decoder_dim=32, decoder_depth=1, decoder_heads=2))
    images = torch.randn(2, 3, 256, 256)
    recon, masked, loss = mae.reconstruct(images, seed=5)
    # visible patches are pasted back unchanged; the loss matches forward() for the same seed
    vis = ~masked
    assert torch.allclose(patchify(recon, 16)[vis], patchify(images, 16)[vis])
    with torch.no_grad():
        fwd_loss, logs = mae(images, seed=5)
    assert abs(fwd_loss.item() - loss) < 1e-5 and "visible_mse" in logs


def test_only_patch_embedding_and_blocks_learn():
    mae = MaskedAutoencoder(build_sam("tiny"), MaeSection(decoder_dim=32, decoder_depth=1, decoder_heads=2))
    trainable = {n for n, p in mae.named_parameters() if p.requires_grad}
    assert any(n.startswith("sam.image_encoder.blocks.") for n in trainable)
    assert "sam.image_encoder.pos_embed" not in trainable  # MAE's fixed sine-cosine table
    assert not any(n.startswith(("sam.mask_decoder", "sam.prompt_encoder", "sam.image_encoder.neck")) for n in trainable)
    assert not any("rel_pos" in n for n in trainable)
    assert "decoder_pred.weight" in trainable


def test_vit_t_is_refused_with_a_clear_error():
    with pytest.raises(InputError, match="ViT image encoder"):
        MaskedAutoencoder(build_sam("tiny_vit_t"))


@pytest.mark.parametrize("bad", [{"mae": {"mask_ratio": 1.0}}, {"mae": {"decoder_dim": 30}}, {"run": {"mode": "lora"}}])
def test_bad_config_values_are_named(toy_data, bad):
    d = {"data": {"train": [{"path": str(toy_data)}]}, **bad}
    with pytest.raises(InputError, match=next(iter(bad)) + r"\."):  # the message names the section.key
        any_config_from_dict(d, PretrainConfig).validate()


def test_pretraining_learns_writes_pictures_and_feeds_sam_training(toy_data, tmp_path):
    cfg = mae_config(toy_data, tmp_path / "mae", max_steps=30, val_every=30, ckpt_every=30)
    out = run_pretraining(cfg)
    val = [r["mae_val_loss"] for r in out["val"]]
    assert len(val) == 2 and val[-1] < 0.8 * val[0]  # held-out masked-patch loss at step 0 and 30
    pictures = sorted((tmp_path / "mae" / "reconstructions").glob("step_*.png"))
    assert [p.name for p in pictures] == ["step_000000.png", "step_000030.png"]
    # one row per shown held-out image (at most mae.pictures = 2), three 256 px panels, two 4 px gaps
    rows = min(2, out["val"][0]["num_images"])
    assert Image.open(pictures[-1]).size == (3 * 256 + 8, rows * 256)
    lines = [json.loads(x) for x in (tmp_path / "mae" / "metrics.jsonl").read_text().splitlines()]
    assert {x["kind"] for x in lines} == {"train", "val"}
    # the checkpoint is a Sam whose encoder moved; SAM training starts from it
    model_path = tmp_path / "mae" / "checkpoints" / "step_000030" / "model.safetensors"
    pretrained = load_checkpoint(model_path)
    fresh = build_sam("tiny")
    assert not torch.equal(pretrained.image_encoder.blocks[0].attn.qkv.weight, fresh.image_encoder.blocks[0].attn.qkv.weight)
    sam_cfg = {"model": {"preset": "tiny", "checkpoint": str(model_path)}, "data": {"train": [{"path": str(toy_data)}],
               "val_fraction": 0.0, "masks_per_image": 2}, "prompts": {"num_point_rounds": 1, "num_mask_only_rounds": 1},
               "run": {"run_dir": str(tmp_path / "sam"), "batch_size": 2, "max_steps": 1, "val_every": 0,
                       "ckpt_every": 0, "progress": False, "threads": 1}}
    out = run_training(config_from_dict(sam_cfg))
    assert out["step"] == 1


def test_resume_continues_exactly(toy_data, tmp_path):
    run_pretraining(mae_config(toy_data, tmp_path / "a", val_every=0))
    interrupted = mae_config(toy_data, tmp_path / "b", val_every=0)
    assert run_pretraining(interrupted, hooks=[StopAt(2)])["step"] == 2
    assert run_pretraining(interrupted, resume="auto")["step"] == 4
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "step_000004" / "model.safetensors").state_dict()
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "step_000004" / "model.safetensors").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa = torch.load(tmp_path / "a" / "checkpoints" / "step_000004" / "train_state.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "checkpoints" / "step_000004" / "train_state.pt", weights_only=True)
    for k, v in sa["extra"]["mae_head"].items():  # the MAE decoder resumed too
        assert torch.equal(v, sb["extra"]["mae_head"][k]), k


def test_a_sam_training_checkpoint_cannot_resume_pretraining(toy_data, fast_config, tmp_path):
    run_training(config_from_dict(fast_config(run_dir=str(tmp_path / "sam"), max_steps=2)))
    cfg = mae_config(toy_data, tmp_path / "mae")
    from samkit.errors import CheckpointError

    with pytest.raises(CheckpointError, match="not saved by `samkit pretrain`"):
        run_pretraining(cfg, resume=str(tmp_path / "sam" / "checkpoints" / "step_000002"))


def _ddp_worker(rank, world, port, cfg, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    out = run_pretraining(cfg)
    torch.save({"weights": out["trainer"].sam.state_dict(), "position": out["trainer"].position},
               os.path.join(out_dir, f"rank{rank}.pt"))


def test_two_gloo_ranks_end_with_identical_encoders(toy_data, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = mae_config(toy_data, tmp_path / "run", max_steps=2, ckpt_every=0)
    mp.start_processes(_ddp_worker, args=(2, port, cfg, str(tmp_path)), nprocs=2, start_method="spawn")
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["position"] == r1["position"] == 2 * 2 * 2
    assert all(torch.equal(r0["weights"][k], r1["weights"][k]) for k in r0["weights"])


def test_pretrain_cli_flags_and_summary(toy_data, tmp_path, capsys):
    from samkit.cli.main import main

    rc = main(["pretrain", "--data", str(toy_data), "--model.preset", "tiny", "--run.run-dir", str(tmp_path / "r"),
               "--run.max-steps", "2", "--run.batch-size", "2", "--run.val-every", "0", "--run.threads", "1",
               "--mae.decoder-dim", "32", "--mae.decoder-depth", "1", "--mae.decoder-heads", "2"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["checkpoint"].endswith("step_000002")


def test_reconstruction_picture_of_any_image_from_a_checkpoint(toy_data, tmp_path):
    from samkit.training.mae_pictures import reconstruction_picture

    run_pretraining(mae_config(toy_data, tmp_path / "mae", max_steps=2, val_every=0))
    out = tmp_path / "pic.png"
    images = sorted((toy_data / "images").glob("*.png"))[:3]
    # a run folder (its latest checkpoint) or a checkpoint folder
    for where in (tmp_path / "mae", tmp_path / "mae" / "checkpoints" / "step_000002"):
        loss = reconstruction_picture(where, images, out)
        assert np.isfinite(loss) and Image.open(out).size == (3 * 256 + 8, 3 * 256)


def test_a_plain_image_folder_pretrains_but_cannot_train_sam(toy_data, tmp_path):
    """MAE needs pixels only: any folder of images (recursively) is a source; SAM training says why not."""
    from samkit.data.specs import DatasetSpec, build_dataset

    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, p in enumerate(sorted((toy_data / "images").glob("*.png"))):
        (folder / ("sub" if i % 2 else "") / p.name).write_bytes(p.read_bytes())
    ds = build_dataset(DatasetSpec(str(folder)))
    assert len(ds) == 4 and ds[0].masks.shape[0] == 0
    cfg = mae_config(folder, tmp_path / "mae", max_steps=2, val_every=0)
    assert run_pretraining(cfg)["step"] == 2
    sam_cfg = config_from_dict({"data": {"train": [{"path": str(folder)}]}, "run": {"run_dir": str(tmp_path / "sam")}})
    with pytest.raises(InputError, match="without masks.*samkit pretrain"):
        run_training(sam_cfg)
