"""Frozen dataclasses describing a SAM 2 / SAM 2.1 model, and its named presets.

The tree mirrors the official hydra configs (sam2/configs/sam2.1/*.yaml) without the `_target_`s:
every field is a constructor keyword of the class it describes (same name), so
`Sam2Config.image_encoder.trunk.stages` is `Hiera(stages=...)` and the override
"++model.image_encoder.trunk.stages=[1,2,7,2]" names the same field (samkit.config_sam2_hydra).
Field defaults are the reference constructors' defaults; a preset sets everything its YAML sets.

Presets are a plain dict: `SAM2_PRESETS["sam2.1_hiera_t"]`; `get_sam2_preset` also takes the
official config file names ("configs/sam2.1/sam2.1_hiera_t.yaml"), long names
("sam2.1_hiera_tiny") and Hugging Face ids ("facebook/sam2.1-hiera-tiny").
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, replace
from typing import Any, Optional


@dataclass(frozen=True)
class HieraConfig:
    """Hiera trunk. Stage i has embed_dim * dim_mul**i channels; q_pool stages halve the grid."""

    embed_dim: int = 96
    num_heads: int = 1
    drop_path_rate: float = 0.0
    q_pool: int = 3
    q_stride: tuple[int, int] = (2, 2)
    stages: tuple[int, ...] = (2, 3, 16, 3)
    dim_mul: float = 2.0
    head_mul: float = 2.0
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    global_att_blocks: tuple[int, ...] = (12, 16, 20)
    return_interm_layers: bool = True

    @property
    def channel_list(self) -> tuple[int, ...]:
        """Channels of the returned stages, lowest resolution first (Hiera.channel_list)."""
        dims = [int(self.embed_dim * self.dim_mul**i) for i in range(len(self.stages))]
        return tuple(reversed(dims)) if self.return_interm_layers else (dims[-1],)


@dataclass(frozen=True)
class PositionEncodingConfig:
    """PositionEmbeddingSine: num_pos_feats channels of 2-D sine/cosine encodings."""

    num_pos_feats: int = 256
    temperature: int = 10000
    normalize: bool = True
    scale: Optional[float] = None


@dataclass(frozen=True)
class FpnNeckConfig:
    position_encoding: PositionEncodingConfig = field(default_factory=PositionEncodingConfig)
    d_model: int = 256
    backbone_channel_list: tuple[int, ...] = (768, 384, 192, 96)
    kernel_size: int = 1
    stride: int = 1
    padding: int = 0
    fpn_interp_model: str = "bilinear"
    fuse_type: str = "sum"
    fpn_top_down_levels: Optional[tuple[int, ...]] = None


@dataclass(frozen=True)
class ImageEncoderConfig:
    """ImageEncoder(trunk, neck, scalp): scalp drops that many lowest-resolution FPN levels."""

    trunk: HieraConfig = field(default_factory=HieraConfig)
    neck: FpnNeckConfig = field(default_factory=FpnNeckConfig)
    scalp: int = 0


@dataclass(frozen=True)
class RoPEAttentionConfig:
    """RoPEAttention (an Attention with axial rotary encodings over a feat_sizes = (W, H) grid)."""

    embedding_dim: int = 256
    num_heads: int = 1
    downsample_rate: int = 1
    dropout: float = 0.0
    kv_in_dim: Optional[int] = None
    rope_theta: float = 10000.0
    rope_k_repeat: bool = False
    feat_sizes: tuple[int, int] = (64, 64)


@dataclass(frozen=True)
class MemoryAttentionLayerConfig:
    activation: str = "relu"
    cross_attention: RoPEAttentionConfig = field(default_factory=RoPEAttentionConfig)
    d_model: int = 256
    dim_feedforward: int = 2048
    dropout: float = 0.1
    pos_enc_at_attn: bool = False
    pos_enc_at_cross_attn_keys: bool = True
    pos_enc_at_cross_attn_queries: bool = False
    self_attention: RoPEAttentionConfig = field(default_factory=RoPEAttentionConfig)


@dataclass(frozen=True)
class MemoryAttentionConfig:
    d_model: int = 256
    pos_enc_at_input: bool = True
    layer: MemoryAttentionLayerConfig = field(default_factory=MemoryAttentionLayerConfig)
    num_layers: int = 4
    batch_first: bool = True


@dataclass(frozen=True)
class MaskDownSamplerConfig:
    embed_dim: int = 256
    kernel_size: int = 4
    stride: int = 4
    padding: int = 0
    total_stride: int = 16


@dataclass(frozen=True)
class CXBlockConfig:
    dim: int = 256
    kernel_size: int = 7
    padding: int = 3
    drop_path: float = 0.0
    layer_scale_init_value: float = 1e-6
    use_dwconv: bool = True


@dataclass(frozen=True)
class FuserConfig:
    layer: CXBlockConfig = field(default_factory=CXBlockConfig)
    num_layers: int = 2
    dim: Optional[int] = None
    input_projection: bool = False


@dataclass(frozen=True)
class MemoryEncoderConfig:
    """MemoryEncoder: out_dim is the memory channel count (mem_dim; 64 in every official model)."""

    out_dim: int = 64
    mask_downsampler: MaskDownSamplerConfig = field(default_factory=MaskDownSamplerConfig)
    fuser: FuserConfig = field(default_factory=FuserConfig)
    position_encoding: PositionEncodingConfig = field(default_factory=lambda: PositionEncodingConfig(64))
    in_dim: int = 256


@dataclass(frozen=True)
class MaskDecoderExtraArgs:
    """SAM2Base(sam_mask_decoder_extra_args=...): the mask decoder's single-mask fallback."""

    dynamic_multimask_via_stability: bool = False
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98


# What the reference's build_sam2(..., apply_postprocessing=True) adds at eval time: when the
# single-mask output is unstable (its area changes with a +-0.05 logit threshold, stability
# below 0.98), return the best of the three multimask outputs instead.
EVAL_POSTPROCESSING = MaskDecoderExtraArgs(True, 0.05, 0.98)


@dataclass(frozen=True)
class Sam2Config:
    """Everything needed to build a SAM2Base. Top-level fields are SAM2Base's keyword arguments.

    `name` is informative (the preset it came from). Image frame: image_size x image_size input;
    the decoder sees an (image_size / backbone_stride)^2 embedding and gives 4x that masks.
    """

    name: str = "custom"
    image_encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    memory_attention: MemoryAttentionConfig = field(default_factory=MemoryAttentionConfig)
    memory_encoder: MemoryEncoderConfig = field(default_factory=MemoryEncoderConfig)
    num_maskmem: int = 7
    image_size: int = 512
    backbone_stride: int = 16
    sigmoid_scale_for_mem_enc: float = 1.0
    sigmoid_bias_for_mem_enc: float = 0.0
    binarize_mask_from_pts_for_mem_enc: bool = False
    use_mask_input_as_output_without_sam: bool = False
    max_cond_frames_in_attn: int = -1
    directly_add_no_mem_embed: bool = False
    use_high_res_features_in_sam: bool = False
    multimask_output_in_sam: bool = False
    multimask_min_pt_num: int = 1
    multimask_max_pt_num: int = 1
    multimask_output_for_tracking: bool = False
    use_multimask_token_for_obj_ptr: bool = False
    iou_prediction_use_sigmoid: bool = False
    memory_temporal_stride_for_eval: int = 1
    non_overlap_masks_for_mem_enc: bool = False
    use_obj_ptrs_in_encoder: bool = False
    max_obj_ptrs_in_encoder: int = 16
    add_tpos_enc_to_obj_ptrs: bool = True
    proj_tpos_enc_in_obj_ptrs: bool = False
    use_signed_tpos_enc_to_obj_ptrs: bool = False
    only_obj_ptrs_in_the_past_for_eval: bool = False
    pred_obj_scores: bool = False
    pred_obj_scores_mlp: bool = False
    fixed_no_obj_ptr: bool = False
    soft_no_obj_ptr: bool = False
    use_mlp_for_obj_ptr_proj: bool = False
    no_obj_embed_spatial: bool = False
    sam_mask_decoder_extra_args: Optional[MaskDecoderExtraArgs] = None
    compile_image_encoder: bool = False

    @property
    def hidden_dim(self) -> int:
        """Width of the decoder, prompt encoder and memory attention (the neck's d_model)."""
        return self.image_encoder.neck.d_model

    @property
    def mem_dim(self) -> int:
        return self.memory_encoder.out_dim

    @property
    def embedding_hw(self) -> tuple[int, int]:
        side = self.image_size // self.backbone_stride
        return (side, side)

    @property
    def low_res_mask_hw(self) -> tuple[int, int]:
        """Size of the decoder's low-res logits and of the mask prompt (256x256 at 1024 px)."""
        h, w = self.embedding_hw
        return (4 * h, 4 * w)

    @property
    def version(self) -> str:
        """"2.1" when the model has SAM 2.1's extra parameters, else "2.0"."""
        return "2.1" if (self.no_obj_embed_spatial or self.proj_tpos_enc_in_obj_ptrs) else "2.0"

    def with_eval_postprocessing(self) -> "Sam2Config":
        """The config the reference's build_sam2(apply_postprocessing=True) instantiates."""
        return replace(self, sam_mask_decoder_extra_args=EVAL_POSTPROCESSING)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Sam2Config":
        """Inverse of to_dict. Missing fields take their defaults; unknown fields are an error."""
        return _from_dict(Sam2Config, d)

    @staticmethod
    def from_json(text: str) -> "Sam2Config":
        return Sam2Config.from_dict(json.loads(text))


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass in `X` or `Optional[X]`, else None."""
    if dataclasses.is_dataclass(tp):
        return tp
    for arg in typing.get_args(tp):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def _from_dict(cls: type, d: dict[str, Any]) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    values = {}
    for key, value in d.items():
        sub = _dataclass_of(hints[key])
        if sub is not None and value is not None:
            value = _from_dict(sub, value)
        elif isinstance(value, list):  # JSON turns tuples into lists
            value = tuple(value)
        values[key] = value
    return cls(**values)


# ---------------------------------------------------------------------------------------------
# Presets


def _official(name: str, version: str, embed_dim: int, num_heads: int, stages: tuple[int, ...] | None = None,
              global_att_blocks: tuple[int, ...] | None = None, bkg_size: tuple[int, int] | None = (7, 7),
              window_spec: tuple[int, ...] | None = None) -> Sam2Config:
    """One official model, as its YAML reads (None: the YAML leaves the Hiera default)."""
    trunk = {k: v for k, v in dict(stages=stages, global_att_blocks=global_att_blocks,
                                   window_pos_embed_bkg_spatial_size=bkg_size, window_spec=window_spec).items()
             if v is not None}
    trunk_cfg = HieraConfig(embed_dim=embed_dim, num_heads=num_heads, **trunk)
    rope = RoPEAttentionConfig(embedding_dim=256, num_heads=1, downsample_rate=1, dropout=0.1, feat_sizes=(64, 64))
    v21 = version == "2.1"
    return Sam2Config(
        name=name,
        image_encoder=ImageEncoderConfig(
            trunk=trunk_cfg,
            neck=FpnNeckConfig(
                position_encoding=PositionEncodingConfig(256, temperature=10000, normalize=True, scale=None),
                d_model=256, backbone_channel_list=trunk_cfg.channel_list, fpn_top_down_levels=(2, 3),
                fpn_interp_model="nearest",
            ),
            scalp=1,
        ),
        memory_attention=MemoryAttentionConfig(
            d_model=256, pos_enc_at_input=True, num_layers=4,
            layer=MemoryAttentionLayerConfig(
                activation="relu", dim_feedforward=2048, dropout=0.1, pos_enc_at_attn=False, d_model=256,
                pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
                self_attention=rope, cross_attention=replace(rope, rope_k_repeat=True, kv_in_dim=64),
            ),
        ),
        memory_encoder=MemoryEncoderConfig(
            out_dim=64,
            position_encoding=PositionEncodingConfig(64, temperature=10000, normalize=True, scale=None),
            mask_downsampler=MaskDownSamplerConfig(kernel_size=3, stride=2, padding=1),
            fuser=FuserConfig(CXBlockConfig(dim=256, kernel_size=7, padding=3, layer_scale_init_value=1e-6,
                                            use_dwconv=True), num_layers=2),
        ),
        num_maskmem=7, image_size=1024, sigmoid_scale_for_mem_enc=20.0, sigmoid_bias_for_mem_enc=-10.0,
        use_mask_input_as_output_without_sam=True, directly_add_no_mem_embed=True, no_obj_embed_spatial=v21,
        use_high_res_features_in_sam=True, multimask_output_in_sam=True, iou_prediction_use_sigmoid=True,
        use_obj_ptrs_in_encoder=True, add_tpos_enc_to_obj_ptrs=v21, proj_tpos_enc_in_obj_ptrs=v21,
        use_signed_tpos_enc_to_obj_ptrs=v21, only_obj_ptrs_in_the_past_for_eval=True, pred_obj_scores=True,
        pred_obj_scores_mlp=True, fixed_no_obj_ptr=True, multimask_output_for_tracking=True,
        use_multimask_token_for_obj_ptr=True, multimask_min_pt_num=0, multimask_max_pt_num=1,
        use_mlp_for_obj_ptr_proj=True, compile_image_encoder=False,
    )


def _test_tiny(name: str, version: str) -> Sam2Config:
    """A random-weight test model: 256 px, 16-d Hiera, d_model 64, mem_dim 16; every code path of
    the official models runs (high-res skips, windows that need padding, a global block, object
    pointers split into hidden_dim / mem_dim tokens), in a few milliseconds per image on a CPU."""
    base = _official(name, version, embed_dim=16, num_heads=1, stages=(1, 2, 3, 2), global_att_blocks=(4,),
                     bkg_size=(4, 4), window_spec=(8, 4, 6, 3))
    ma = base.memory_attention
    rope = replace(ma.layer.self_attention, embedding_dim=64, feat_sizes=(16, 16))
    me = base.memory_encoder
    return replace(
        base,
        image_size=256,
        image_encoder=replace(base.image_encoder, neck=replace(
            base.image_encoder.neck, d_model=64, position_encoding=PositionEncodingConfig(64))),
        memory_attention=replace(ma, d_model=64, num_layers=2, layer=replace(
            ma.layer, d_model=64, dim_feedforward=128, self_attention=rope,
            cross_attention=replace(rope, rope_k_repeat=True, kv_in_dim=16))),
        memory_encoder=replace(
            me, out_dim=16, in_dim=64, position_encoding=PositionEncodingConfig(16),
            mask_downsampler=replace(me.mask_downsampler, embed_dim=64),
            fuser=replace(me.fuser, layer=replace(me.fuser.layer, dim=64))),
    )


def _cpu(name: str, stages: tuple[int, ...] = (1, 2, 4, 1), global_att_blocks: tuple[int, ...] = (4, 6)) -> Sam2Config:
    """samkit's built-in SAM 2 (sam2_cpu): SAM 2.1 as sam2.1_hiera_t, sized for a 2-core CPU.

    384 px input -> Hiera grids of 96/48/24/12 tokens (48/96/192/384-d; windows of 8, 4, 12 and
    12, the last two stages' windows tiling their grids exactly; blocks 5 and 7 of stage 3 global),
    a 128-d neck, decoder and prompt encoder on a 24 x 24 embedding (the widths and grid of SAM 1's
    built-in vit_cpu, so its heads transplant unchanged: samkit.training.sam2_transplant), 2 layers
    of 128-d memory attention (MLP 512) and 64-d memories. The decoder's transformer keeps SAM 2's
    hard-coded MLP 2048 / 8 heads so checkpoints load in the official sam2 package too.
    """
    base = _official(name, "2.1", embed_dim=48, num_heads=1, stages=stages, global_att_blocks=global_att_blocks,
                     bkg_size=(7, 7), window_spec=(8, 4, 12, 12))
    ma = base.memory_attention
    rope = replace(ma.layer.self_attention, embedding_dim=128, feat_sizes=(24, 24))
    me = base.memory_encoder
    return replace(
        base,
        image_size=384,
        image_encoder=replace(base.image_encoder, neck=replace(
            base.image_encoder.neck, d_model=128, position_encoding=PositionEncodingConfig(128))),
        memory_attention=replace(ma, d_model=128, num_layers=2, layer=replace(
            ma.layer, d_model=128, dim_feedforward=512, self_attention=rope,
            cross_attention=replace(rope, rope_k_repeat=True, kv_in_dim=64))),
        memory_encoder=replace(
            me, out_dim=64, in_dim=128, position_encoding=PositionEncodingConfig(64),
            mask_downsampler=replace(me.mask_downsampler, embed_dim=128),
            fuser=replace(me.fuser, layer=replace(me.fuser.layer, dim=128))),
    )


SAM2_PRESETS: dict[str, Sam2Config] = {
    # SAM 2.1 (configs/sam2.1/*.yaml, checkpoints of 2024-09-28)
    "sam2.1_hiera_t": _official("sam2.1_hiera_t", "2.1", 96, 1, (1, 2, 7, 2), (5, 7, 9)),
    "sam2.1_hiera_s": _official("sam2.1_hiera_s", "2.1", 96, 1, (1, 2, 11, 2), (7, 10, 13)),
    "sam2.1_hiera_b+": _official("sam2.1_hiera_b+", "2.1", 112, 2, bkg_size=None),
    "sam2.1_hiera_l": _official("sam2.1_hiera_l", "2.1", 144, 2, (2, 6, 36, 4), (23, 33, 43),
                                window_spec=(8, 4, 16, 8)),
    # SAM 2.0 (configs/sam2/*.yaml, checkpoints of 2024-07-28)
    "sam2_hiera_t": _official("sam2_hiera_t", "2.0", 96, 1, (1, 2, 7, 2), (5, 7, 9)),
    "sam2_hiera_s": _official("sam2_hiera_s", "2.0", 96, 1, (1, 2, 11, 2), (7, 10, 13)),
    "sam2_hiera_b+": _official("sam2_hiera_b+", "2.0", 112, 2, bkg_size=None),
    "sam2_hiera_l": _official("sam2_hiera_l", "2.0", 144, 2, (2, 6, 36, 4), (23, 33, 43), window_spec=(8, 4, 16, 8)),
    # samkit's built-in SAM 2 (trained by samkit; shipped weights, used when no checkpoint is given).
    "sam2_cpu": _cpu("sam2_cpu"),
    # Test presets: random weights only.
    "sam2_test_tiny": _test_tiny("sam2_test_tiny", "2.1"),
    "sam2_test_tiny_2.0": _test_tiny("sam2_test_tiny_2.0", "2.0"),
}

# Presets of samkit's own models (no official YAML or checkpoint to compare with).
SAMKIT_SAM2_PRESETS = ("sam2_cpu",)
OFFICIAL_SAM2_PRESETS = tuple(k for k in SAM2_PRESETS if "_test_" not in k and k not in SAMKIT_SAM2_PRESETS)

_SIZE_WORDS = {"tiny": "t", "small": "s", "base_plus": "b+", "base-plus": "b+", "b_plus": "b+", "large": "l"}

# Hugging Face model ids -> (preset, checkpoint file in that repo), as sam2.build_sam.HF_MODEL_ID_TO_FILENAMES.
HF_MODEL_IDS: dict[str, tuple[str, str]] = {
    f"facebook/{family}-hiera-{size.replace('_', '-')}": (f"{family}_hiera_{short}", f"{family}_hiera_{size}.pt")
    for family in ("sam2", "sam2.1")
    for size, short in (("tiny", "t"), ("small", "s"), ("base_plus", "b+"), ("large", "l"))
}


def resolve_sam2_name(name: str) -> str | None:
    """The canonical SAM 2 preset for a name, alias, official config file name or HF id; else None.

    "sam2.1_hiera_tiny", "configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1/sam2.1_hiera_t",
    "sam2.1_hiera_t.yaml" and "facebook/sam2.1-hiera-tiny" all give "sam2.1_hiera_t".
    """
    if not isinstance(name, str):
        return None
    if name in SAM2_PRESETS:
        return name
    if name in HF_MODEL_IDS:
        return HF_MODEL_IDS[name][0]
    key = name.strip().removeprefix("/").removeprefix("configs/").removesuffix(".yaml")
    for folder in ("sam2.1/", "sam2/", "sam2_configs/"):
        key = key.removeprefix(folder)
    if key in SAM2_PRESETS:
        return key
    family, _, size = key.rpartition("_hiera_")
    if family in ("sam2", "sam2.1") and size in _SIZE_WORDS:
        return f"{family}_hiera_{_SIZE_WORDS[size]}"
    return None


def is_sam2_name(name: Any) -> bool:
    return resolve_sam2_name(name) is not None


def get_sam2_preset(name: str) -> Sam2Config:
    from samkit.errors import InputError

    key = resolve_sam2_name(name)
    if key is None:
        raise InputError(f"unknown SAM 2 model {name!r}; choose one of {sorted(SAM2_PRESETS)} (or an official "
                         f"config name such as 'configs/sam2.1/sam2.1_hiera_t.yaml')")
    return SAM2_PRESETS[key]
