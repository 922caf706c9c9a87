"""Building presets and reading/writing checkpoints, including the wrong ones."""

from __future__ import annotations

import pytest
import torch

from samkit import CheckpointError, build_sam, get_preset, load_checkpoint, load_model, sam_model_registry, save_checkpoint
from samkit.build import _guess_preset
from samkit.config import PRESETS, SamConfig


@pytest.mark.parametrize("name", ["tiny", "tiny_vit_t"])
def test_tiny_presets_run_forward_and_backward(name):
    model = build_sam(name).train()
    s = model.img_size
    x = torch.randn(2, 3, s, s)
    emb = model.image_encoder(x)
    assert emb.shape == (2, model.prompt_encoder.embed_dim, *model.prompt_encoder.image_embedding_size)
    pts = torch.rand(2, 1, 2) * s
    sparse, dense = model.prompt_encoder((pts, torch.ones(2, 1, dtype=torch.int)), None, None)
    low_res, iou = model.mask_decoder(emb, model.prompt_encoder.get_dense_pe(), sparse, dense, True)
    assert low_res.shape == (2, 3, *model.config.low_res_mask_hw) and iou.shape == (2, 3)
    (low_res.mean() + iou.mean()).backward()  # trainable: gradients reach the encoder
    trainable = [n for n, p in model.image_encoder.named_parameters() if p.requires_grad]
    no_grad = [n for n, p in model.image_encoder.named_parameters() if p.requires_grad and p.grad is None]
    assert trainable and not no_grad, f"encoder parameters without gradient: {no_grad[:5]}"


def test_the_cpu_encoder_candidates_share_the_built_in_models_embedding():
    """vit_cpu and its TinyViT-shaped rival (docs/model-card.md) give the same 24 x 24 x 128
    embedding to the same decoder, so one recipe trains either and the comparison is the encoder's."""
    vit, tv = build_sam("vit_cpu").eval(), build_sam("tiny_vit_cpu").eval()
    x = torch.randn(1, 3, 384, 384)
    with torch.no_grad():
        assert vit.image_encoder(x).shape == tv.image_encoder(x).shape == (1, 128, 24, 24)
    assert vit.config.mask_decoder == tv.config.mask_decoder and vit.config.prompt_encoder == tv.config.prompt_encoder
    n_params = [sum(p.numel() for p in m.image_encoder.parameters()) for m in (vit, tv)]
    assert n_params[1] < n_params[0]
    assert not [n for n, _ in tv.image_encoder.named_parameters() if n.startswith("head.")]  # no ImageNet classifier


def test_the_512_px_candidate_is_the_same_network_on_a_finer_grid():
    """tiny_vit_cpu_512 (the resolution comparison) has tiny_vit_cpu's parameters, shape for shape,
    except the attention biases of its larger windows, and gives a 32 x 32 embedding."""
    small, big = build_sam("tiny_vit_cpu"), build_sam("tiny_vit_cpu_512").eval()
    assert {k: v.shape for k, v in small.state_dict().items() if "attention_bias" not in k} == \
        {k: v.shape for k, v in big.state_dict().items() if "attention_bias" not in k}
    with torch.no_grad():
        assert big.image_encoder(torch.randn(1, 3, 512, 512)).shape == (1, 128, 32, 32)
    assert big.prompt_encoder.image_embedding_size == (32, 32)


def test_config_json_round_trip():
    for cfg in PRESETS.values():
        assert SamConfig.from_json(cfg.to_json()) == cfg


def test_official_state_dict_loads_strictly(tmp_path):
    model = build_sam("tiny")
    path = tmp_path / "sam_tiny.pth"
    torch.save(model.state_dict(), path)
    loaded = load_checkpoint(path, "tiny")
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_wrong_preset_is_named(tmp_path):
    # A state dict shaped like vit_b, asked to load as vit_l: only the shapes matter for the check.
    state = {k: torch.zeros(v.shape) for k, v in build_sam("vit_b").state_dict().items()}
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(state, path)
    assert _guess_preset(state) == "vit_b"
    with pytest.raises(CheckpointError, match=r"sam_vit_b_01ec64\.pth.*looks like vit_b, you asked for vit_l"):
        load_checkpoint(path, "vit_l")


def test_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "m.pth"
    torch.save(build_sam("tiny").state_dict(), good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pth"):
        load_checkpoint(cut, "tiny")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_checkpoint(junk, "tiny")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="cannot tell which preset"):
        load_checkpoint(other)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        load_checkpoint(path, "tiny")


def test_samkit_checkpoint_rebuilds_its_own_model(tmp_path):
    model = build_sam("tiny")
    path = save_checkpoint(model, tmp_path / "ck.safetensors", metadata={"note": "test"})
    loaded = load_model(checkpoint=path)  # no name: the config comes from the file
    assert loaded.config == model.config
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    half = save_checkpoint(model, tmp_path / "half.safetensors", dtype=torch.float16)
    assert half.stat().st_size < path.stat().st_size * 0.6
    assert load_checkpoint(half).state_dict()["mask_decoder.iou_token.weight"].dtype == torch.float32
    with pytest.raises(CheckpointError, match="holds a tiny model, you asked for vit_b"):
        load_checkpoint(path, "vit_b")


def test_registry_and_load_model_options():
    assert set(sam_model_registry) >= {"default", "vit_b", "vit_l", "vit_h", "vit_t"}
    m = load_model("tiny", dtype="bfloat16")
    assert m.encoder_dtype == torch.bfloat16 and not m.training
    with pytest.raises(CheckpointError, match="unknown dtype"):
        load_model("tiny", dtype="int3")
    with pytest.raises(ValueError, match="unknown model preset"):
        load_model("vit_xl")
    assert get_preset("default") == get_preset("vit_h")
