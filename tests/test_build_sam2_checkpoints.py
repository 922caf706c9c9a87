"""SAM 2 checkpoints: official {"model": state_dict} files load strictly through build_sam2 and
load_model, a wrong file names the preset (or the model family) it looks like, and samkit's
safetensors format round-trips a SAM 2 model with its config."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import samkit
from reference_sam2 import build_reference_sam2, reference_sam2_overrides, twin_sam2_models
from samkit.build import build_sam, load_checkpoint, load_model, read_checkpoint_config, save_checkpoint
from samkit.builder_sam2 import build_sam2, build_sam2_model, load_sam2_checkpoint
from samkit.checkpoint_sam2 import checkpoint_family, guess_sam2_preset
from samkit.config import get_preset
from samkit.config_sam2 import OFFICIAL_SAM2_PRESETS, SAM2_PRESETS, Sam2Config
from samkit.errors import CheckpointError, InputError
from samkit.modeling.sam import Sam
from samkit.modeling.sam2.sam2_base import SAM2Base

SLOW = {"sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l", "sam2_hiera_s", "sam2_hiera_b+", "sam2_hiera_l"}


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def twins():
    return twin_sam2_models("sam2_test_tiny", seed=0)


@pytest.fixture(scope="module")
def official_style_pt(twins, tmp_path_factory):
    """The reference model's weights saved as the official files are: {"model": state_dict}."""
    path = tmp_path_factory.mktemp("ckpt") / "sam2_test_tiny.pt"
    torch.save({"model": twins[0].state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def sam1_pt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "sam_tiny.pth"
    torch.save(build_sam("tiny").state_dict(), path)
    return path


def test_build_sam2_loads_an_official_style_checkpoint(twins, official_style_pt):
    model = build_sam2("sam2_test_tiny", ckpt_path=official_style_pt, device="cpu")
    assert _same_weights(model, twins[0]) and not model.training


@pytest.mark.slow
def test_official_config_name_with_official_checkpoint(tmp_path):
    ref = build_reference_sam2(*reference_sam2_overrides("sam2.1_hiera_t"))
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": ref.state_dict()}, path)
    model = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=str(path), device="cpu")
    assert _same_weights(model, ref)
    assert guess_sam2_preset(ref.state_dict()) == "sam2.1_hiera_t"
    loaded = load_model(checkpoint=path, device="cpu")  # preset guessed from the tensors
    assert isinstance(loaded, SAM2Base) and loaded.config.name == "sam2.1_hiera_t"


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in list(OFFICIAL_SAM2_PRESETS) + ["sam2_test_tiny", "sam2_test_tiny_2.0"]])
def test_preset_guess_from_tensors(name):
    state = build_sam2_model(name).state_dict()
    assert checkpoint_family(state) == "sam2"
    assert guess_sam2_preset(state) == name


def test_wrong_preset_names_the_likely_one(twins, official_style_pt):
    with pytest.raises(CheckpointError, match="looks like sam2_test_tiny, you asked for sam2_test_tiny_2.0"):
        build_sam2("sam2_test_tiny_2.0", ckpt_path=official_style_pt, device="cpu")
    with pytest.raises(CheckpointError, match="unexpected keys .*looks like sam2_test_tiny"):
        load_model("sam2_test_tiny_2.0", checkpoint=official_style_pt)


def test_sam2_20_vs_21_is_told_apart(tmp_path):
    path = tmp_path / "v20.pt"
    torch.save({"model": build_sam2_model("sam2_test_tiny_2.0").state_dict()}, path)
    with pytest.raises(CheckpointError, match="missing keys.*looks like sam2_test_tiny_2.0, you asked for "
                                              "sam2_test_tiny"):
        build_sam2("sam2_test_tiny", ckpt_path=path, device="cpu")
    assert load_model(checkpoint=path).config.name == "sam2_test_tiny_2.0"


def test_sam1_checkpoint_given_as_sam2(sam1_pt):
    with pytest.raises(CheckpointError, match="is a SAM 1 checkpoint, not a SAM 2 one"):
        build_sam2("sam2_test_tiny", ckpt_path=sam1_pt, device="cpu")
    with pytest.raises(CheckpointError, match="SAM 1 checkpoint"):
        load_model("sam2_test_tiny", checkpoint=sam1_pt)
    with pytest.raises(CheckpointError, match="SAM 1 checkpoint"):
        load_sam2_checkpoint(sam1_pt)


def test_sam2_checkpoint_given_as_sam1(official_style_pt):
    with pytest.raises(CheckpointError, match="is a SAM 2.1 checkpoint \\(looks like sam2_test_tiny\\), you asked "
                                              "for the SAM 1 preset tiny"):
        load_model("tiny", checkpoint=official_style_pt)
    with pytest.raises(CheckpointError, match="SAM 2.1 checkpoint"):
        samkit.sam_model_registry["vit_b"](checkpoint=official_style_pt)


def test_truncated_and_foreign_files(tmp_path, official_style_pt):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(official_style_pt.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot be read as a PyTorch checkpoint"):
        build_sam2("sam2_test_tiny", ckpt_path=bad, device="cpu")
    other = tmp_path / "other.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, other)
    with pytest.raises(CheckpointError, match="cannot tell which SAM 2 preset"):
        load_sam2_checkpoint(other)
    with pytest.raises(CheckpointError, match="not a SAM 2 state dict"):
        build_sam2("sam2_test_tiny", ckpt_path=other, device="cpu")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        build_sam2("sam2_test_tiny", ckpt_path=tmp_path / "missing.pt", device="cpu")


def test_load_model_dispatch(official_style_pt, twins):
    model = load_model(checkpoint=official_style_pt, device="cpu", dtype="bfloat16")
    assert isinstance(model, SAM2Base) and model.config == SAM2_PRESETS["sam2_test_tiny"].with_eval_postprocessing()
    assert model.sam_mask_decoder.dynamic_multimask_via_stability is True
    assert model.encoder_dtype == torch.bfloat16 and not model.training
    assert _same_weights(model, twins[0])
    fresh = load_model("sam2_test_tiny", device="cpu")
    assert isinstance(fresh, SAM2Base) and fresh.encoder_dtype == torch.float32 and not fresh.training
    assert isinstance(load_model("tiny"), Sam)  # SAM 1 unchanged
    assert isinstance(build_sam("sam2_test_tiny"), SAM2Base)


def test_get_preset_dispatch():
    assert get_preset("configs/sam2.1/sam2.1_hiera_t.yaml") is SAM2_PRESETS["sam2.1_hiera_t"]
    assert isinstance(get_preset("sam2_hiera_large"), Sam2Config)
    assert get_preset("vit_b").name == "vit_b" and get_preset("default").name == "vit_h"
    with pytest.raises(InputError, match="for SAM 2"):
        get_preset("sam3")


def test_safetensors_round_trip(twins, tmp_path):
    ours = twins[1]
    path = save_checkpoint(ours, tmp_path / "ft" / "model.safetensors", metadata={"step": "7"})
    cfg, meta = read_checkpoint_config(path)
    assert cfg == ours.config and meta["format"] == "samkit.sam2.v1" and meta["step"] == "7"
    for loaded in (load_checkpoint(path), load_sam2_checkpoint(path)):
        assert isinstance(loaded, SAM2Base) and loaded.config == ours.config
        assert _same_weights(loaded, ours)
    # The ready-for-inference entry points add the reference's eval-time decoder fallback.
    for loaded in (load_model(checkpoint=path), build_sam2("sam2_test_tiny", ckpt_path=path, device="cpu")):
        assert loaded.config == ours.config.with_eval_postprocessing()
        assert loaded.sam_mask_decoder.dynamic_multimask_via_stability is True
        assert _same_weights(loaded, ours)
    # A changed config travels with the file (a fine-tuned model is self-describing).
    custom = dataclasses.replace(SAM2_PRESETS["sam2_test_tiny"], name="my_sam2", num_maskmem=3)
    model = build_sam2_model(custom)
    path2 = save_checkpoint(model, tmp_path / "custom.safetensors", dtype=torch.float16)
    back = load_checkpoint(path2)
    assert back.config == custom and back.num_maskmem == 3
    assert all(v.dtype == torch.float32 for v in back.state_dict().values() if v.is_floating_point())


def test_safetensors_family_mix_ups(twins, tmp_path):
    sam2_path = save_checkpoint(twins[1], tmp_path / "sam2.safetensors")
    sam1_path = save_checkpoint(build_sam("tiny"), tmp_path / "sam1.safetensors")
    with pytest.raises(CheckpointError, match="holds a SAM 2 model \\(sam2_test_tiny\\), you asked for the SAM 1"):
        load_checkpoint(sam2_path, "tiny")
    with pytest.raises(CheckpointError, match="holds a SAM 1 model \\(tiny\\), you asked for the SAM 2 preset"):
        load_checkpoint(sam1_path, "sam2_test_tiny")
    with pytest.raises(CheckpointError, match="samkit SAM 1 checkpoint"):
        load_sam2_checkpoint(sam1_path)
    with pytest.raises(CheckpointError, match="holds a sam2_test_tiny model, you asked for sam2_test_tiny_2.0"):
        load_sam2_checkpoint(sam2_path, "sam2_test_tiny_2.0")


def test_bare_safetensors_state_dict_with_a_name(twins, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in twins[0].state_dict().items()}, str(path))
    assert _same_weights(load_checkpoint(path, "sam2_test_tiny"), twins[0])
    with pytest.raises(CheckpointError, match="without a samkit config"):
        load_sam2_checkpoint(path)
