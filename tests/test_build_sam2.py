"""SAM 2 presets and building: the presets read exactly as the official YAMLs, every preset builds
the reference's module tree (same state-dict keys and shapes), configs survive JSON, and hydra
overrides map to config fields."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from reference_sam2 import build_reference_sam2, import_reference_sam2, reference_sam2_overrides, twin_sam2_models
from samkit.builder_sam2 import build_sam2, build_sam2_model
from samkit.config_sam2 import (
    EVAL_POSTPROCESSING, OFFICIAL_SAM2_PRESETS, SAM2_PRESETS, Sam2Config, get_sam2_preset, resolve_sam2_name,
)
from samkit.config_sam2_hydra import apply_hydra_overrides, to_hydra_overrides
from samkit.errors import InputError, SamkitError

# Full-size builds take 3-6 s each (weight init); the tiny ones and the YAML test cover the rest fast.
SLOW = {"sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l", "sam2_hiera_t", "sam2_hiera_s", "sam2_hiera_b+",
        "sam2_hiera_l"}


def _official_yaml(name: str, overrides: list[str] | None = None) -> dict:
    """The official YAML's model node (or, with overrides, the base YAML's), without `_target_`s."""
    import_reference_sam2()
    from hydra import compose
    from omegaconf import OmegaConf

    family = "sam2.1" if name.startswith("sam2.1") else "sam2"
    config_name = f"configs/{family}/{name}.yaml" if overrides is None else reference_sam2_overrides(name)[0]
    node = OmegaConf.to_container(compose(config_name=config_name, overrides=overrides or []),
                                  resolve=True)["model"]

    def strip(d):
        return {k: strip(v) for k, v in d.items() if k != "_target_"} if isinstance(d, dict) else d

    return strip(node)


def _compare(yaml_node: dict, ours: dict, path: str, problems: list[str]) -> None:
    for key, value in yaml_node.items():
        mine = ours.get(key, "<missing>")
        if isinstance(value, dict):
            _compare(value, mine, f"{path}.{key}", problems)
        elif (list(mine) if isinstance(mine, tuple) else mine) != value:
            problems.append(f"{path}.{key}: yaml {value!r}, preset {mine!r}")


@pytest.mark.parametrize("name", OFFICIAL_SAM2_PRESETS)
def test_presets_equal_the_official_yaml(name):
    problems: list[str] = []
    yaml = _official_yaml(name)
    _compare(yaml, SAM2_PRESETS[name].to_dict(), "model", problems)
    # ... and the overrides twin_sam2_models uses turn the base YAML into this one.
    _compare(yaml, _official_yaml(name, reference_sam2_overrides(name)[1]), "overridden", problems)
    assert not problems, problems


def test_unset_fields_are_the_reference_constructor_defaults():
    """Fields a YAML leaves out take the reference class's default, so presets are complete."""
    import_reference_sam2()
    from sam2.modeling.backbones.hieradet import Hiera
    from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder
    from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer
    from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
    from sam2.modeling.position_encoding import PositionEmbeddingSine
    from sam2.modeling.sam2_base import SAM2Base
    from sam2.modeling.sam.transformer import Attention, RoPEAttention

    from samkit import config_sam2 as c

    pairs = [(c.HieraConfig, [Hiera]), (c.FpnNeckConfig, [FpnNeck]), (c.ImageEncoderConfig, [ImageEncoder]),
             (c.PositionEncodingConfig, [PositionEmbeddingSine]), (c.RoPEAttentionConfig, [RoPEAttention, Attention]),
             (c.MemoryAttentionLayerConfig, [MemoryAttentionLayer]), (c.MemoryAttentionConfig, [MemoryAttention]),
             (c.MaskDownSamplerConfig, [MaskDownSampler]), (c.CXBlockConfig, [CXBlock]), (c.FuserConfig, [Fuser]),
             (c.MemoryEncoderConfig, [MemoryEncoder]), (c.Sam2Config, [SAM2Base])]
    problems = []
    for cls, ref_classes in pairs:
        params = {}
        for ref in reversed(ref_classes):
            params.update(inspect.signature(ref.__init__).parameters)
        default = cls()
        for f in dataclasses.fields(cls):
            if f.name == "name":
                continue
            if f.name not in params:
                problems.append(f"{cls.__name__}.{f.name} is no {ref_classes[0].__name__} argument")
                continue
            ref_default = params[f.name].default
            if ref_default is inspect.Parameter.empty:
                continue  # a required argument: the dataclass default is the official models' value
            mine = getattr(default, f.name)
            mine = list(mine) if isinstance(mine, tuple) else mine
            ref_default = list(ref_default) if isinstance(ref_default, (tuple, range)) else ref_default
            if mine != ref_default:
                problems.append(f"{cls.__name__}.{f.name}: {mine!r} vs reference {ref_default!r}")
    assert not problems, problems


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in SAM2_PRESETS])
def test_preset_builds_the_reference_module_tree(name):
    ref = build_reference_sam2(*reference_sam2_overrides(name))
    ours = build_sam2_model(name)
    ref_state, our_state = ref.state_dict(), ours.state_dict()
    assert set(ref_state) == set(our_state)
    assert {k: tuple(v.shape) for k, v in ref_state.items()} == {k: tuple(v.shape) for k, v in our_state.items()}
    ours.load_state_dict(ref_state, strict=True)
    assert ours.config == SAM2_PRESETS[name]
    assert ours.image_size == SAM2_PRESETS[name].image_size


def test_twin_models_share_weights_and_flags():
    ref, ours = twin_sam2_models("sam2_test_tiny")
    our_state = ours.state_dict()
    for k, v in ref.state_dict().items():
        assert torch.equal(v, our_state[k]), k
    for flag in ("directly_add_no_mem_embed", "use_high_res_features_in_sam", "num_feature_levels", "image_size",
                 "iou_prediction_use_sigmoid", "pred_obj_scores", "mem_dim", "hidden_dim"):
        assert getattr(ref, flag) == getattr(ours, flag), flag
    assert not ref.training and not ours.training
    # The decoder's post-processing is a config field both sides honour.
    ref_pp, ours_pp = twin_sam2_models(SAM2_PRESETS["sam2_test_tiny"].with_eval_postprocessing())
    assert ref_pp.sam_mask_decoder.dynamic_multimask_via_stability is True
    assert ours_pp.sam_mask_decoder_extra_args == dataclasses.asdict(EVAL_POSTPROCESSING)


@pytest.mark.parametrize("name", list(SAM2_PRESETS))
def test_config_json_round_trip(name):
    cfg = SAM2_PRESETS[name]
    assert Sam2Config.from_json(cfg.to_json()) == cfg
    pp = cfg.with_eval_postprocessing()
    assert Sam2Config.from_json(pp.to_json()) == pp
    hash(cfg)  # frozen and hashable: tuples, not lists


def test_config_from_dict_rejects_unknown_fields():
    d = SAM2_PRESETS["sam2_test_tiny"].to_dict()
    d["image_encoder"]["trunk"]["depth"] = 3
    with pytest.raises(ValueError, match="unknown HieraConfig fields: \\['depth'\\]"):
        Sam2Config.from_dict(d)


@pytest.mark.parametrize("alias, name", [
    ("sam2.1_hiera_t", "sam2.1_hiera_t"), ("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_t"),
    ("sam2.1_hiera_t.yaml", "sam2.1_hiera_t"), ("sam2.1/sam2.1_hiera_s", "sam2.1_hiera_s"),
    ("sam2.1_hiera_base_plus", "sam2.1_hiera_b+"), ("configs/sam2/sam2_hiera_b+.yaml", "sam2_hiera_b+"),
    ("sam2_hiera_large", "sam2_hiera_l"), ("facebook/sam2.1-hiera-tiny", "sam2.1_hiera_t"),
    ("facebook/sam2-hiera-base-plus", "sam2_hiera_b+"), ("sam2_test_tiny", "sam2_test_tiny"),
])
def test_names_and_aliases(alias, name):
    assert resolve_sam2_name(alias) == name
    assert get_sam2_preset(alias) is SAM2_PRESETS[name]


@pytest.mark.parametrize("bad", ["vit_b", "sam2.1_hiera_xl", "configs/sam2.1/other.yaml", "facebook/sam-vit-base"])
def test_unknown_names_are_input_errors(bad):
    assert resolve_sam2_name(bad) is None
    with pytest.raises(InputError, match="unknown SAM 2 model"):
        get_sam2_preset(bad)


def test_hydra_overrides_map_to_fields():
    cfg = apply_hydra_overrides(SAM2_PRESETS["sam2.1_hiera_t"], [
        "++model.image_size=512", "model.num_maskmem=5", "+model.image_encoder.trunk.stages=[1,2,3,1]",
        "++model.memory_attention.layer.self_attention.feat_sizes=[32,32]",
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=True",
        "++model.sigmoid_bias_for_mem_enc=-5", "++model.image_encoder.neck.fpn_top_down_levels=null",
        "++model.memory_encoder.fuser.layer.layer_scale_init_value=1e-05",
    ])
    assert cfg.image_size == 512 and cfg.num_maskmem == 5
    assert cfg.image_encoder.trunk.stages == (1, 2, 3, 1)
    assert cfg.memory_attention.layer.self_attention.feat_sizes == (32, 32)
    assert cfg.sam_mask_decoder_extra_args.dynamic_multimask_via_stability is True
    assert cfg.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh == 0.98
    assert cfg.sigmoid_bias_for_mem_enc == -5.0 and isinstance(cfg.sigmoid_bias_for_mem_enc, float)
    assert cfg.image_encoder.neck.fpn_top_down_levels is None
    assert cfg.memory_encoder.fuser.layer.layer_scale_init_value == 1e-5


@pytest.mark.parametrize("override, message", [
    ("++model.no_such_flag=true", "has no field 'no_such_flag'"),
    ("++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor", "_target_"),
    ("++model.image_size=big", "expected int"),
    ("++model.image_encoder=5", "group of settings"),
    ("++model.image_encoder=null", "null is not allowed"),
    ("++model.image_size.x=1", "single value"),
    ("~model.image_size", "not of the form"),
    ("~model.image_size=1", "deleting keys"),
    ("++trainer.max_epochs=3", "only understands 'model."),
    ("++model.num_maskmem=null", "null is not allowed"),
])
def test_bad_hydra_overrides_are_input_errors(override, message):
    with pytest.raises(InputError, match=message):
        apply_hydra_overrides(SAM2_PRESETS["sam2.1_hiera_t"], [override])


def test_to_hydra_overrides_round_trips_through_our_parser():
    for name in ("sam2_test_tiny", "sam2_hiera_l"):
        cfg = SAM2_PRESETS[name].with_eval_postprocessing()
        base = dataclasses.replace(SAM2_PRESETS["sam2.1_hiera_t"], name=cfg.name)
        assert apply_hydra_overrides(base, to_hydra_overrides(cfg)) == cfg
        assert apply_hydra_overrides(base, to_hydra_overrides(cfg, complete=True)) == cfg
    assert to_hydra_overrides(SAM2_PRESETS["sam2.1_hiera_t"]) == []
    assert "++model.image_size=256" in to_hydra_overrides(SAM2_PRESETS["sam2_test_tiny"])


def test_build_sam2_drop_in():
    model = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", device="cpu",
                       hydra_overrides_extra=["++model.image_size=512",
                                              "++model.memory_attention.layer.self_attention.feat_sizes=[32,32]"])
    assert not model.training and model.device.type == "cpu"
    assert model.image_size == 512 and model.config.image_size == 512
    # apply_postprocessing=True (the default) is the reference's eval-time decoder fallback.
    assert model.sam_mask_decoder.dynamic_multimask_via_stability is True
    assert model.config.sam_mask_decoder_extra_args == EVAL_POSTPROCESSING
    raw = build_sam2("sam2_test_tiny", device="cpu", mode="train", apply_postprocessing=False, unknown_kwarg=1)
    assert raw.training and raw.config == SAM2_PRESETS["sam2_test_tiny"]
    assert raw.sam_mask_decoder.dynamic_multimask_via_stability is False


def test_build_sam2_cuda_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="CUDA is not available.*device='cpu'"):
        build_sam2("sam2_test_tiny")  # device="cuda" is the reference's default
    assert build_sam2("sam2_test_tiny", device="auto").device.type == "cpu"
