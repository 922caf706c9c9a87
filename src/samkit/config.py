"""Frozen dataclasses describing every model component, and the named presets.

A `SamConfig` fully determines the module tree that `samkit.build.build_sam` creates, so a
checkpoint that stores its config (samkit's safetensors format does) rebuilds its own model.
Presets are a plain dict: `PRESETS["vit_b"]`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Union

from samkit.config_sam2 import SAM2_PRESETS, Sam2Config, resolve_sam2_name

PIXEL_MEAN_RGB = (123.675, 116.28, 103.53)
PIXEL_STD_RGB = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ViTEncoderConfig:
    """ViTDet-style image encoder (SAM's vit_b/l/h). Input: img_size x img_size, padded."""

    kind: str = "vit"
    img_size: int = 1024
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    out_chans: int = 256
    window_size: int = 14
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    use_rel_pos: bool = True
    use_abs_pos: bool = True

    @property
    def embedding_hw(self) -> tuple[int, int]:
        side = self.img_size // self.patch_size
        return (side, side)


@dataclass(frozen=True)
class TinyViTEncoderConfig:
    """MobileSAM's TinyViT image encoder (vit_t). Output is the same 256 x 64 x 64 embedding."""

    kind: str = "tiny_vit"
    img_size: int = 1024
    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    out_chans: int = 256
    # Stride of the patch merging after each stage but the last. The official code hard-codes
    # stride 1 when the merge's out_dim is 320/448/576, i.e. the last merge of every TinyViT variant,
    # so the last two stages share one resolution and the output stays at img_size / 16.
    downsample_strides: tuple[int, ...] = (2, 2, 1)
    # TinyViT's ImageNet classifier head (norm_head + head). SAM never runs it, but mobile_sam.pt
    # carries its weights, so the module keeps them (frozen) for a strict load. 0 = no `head`.
    num_classes: int = 1000

    @property
    def embedding_hw(self) -> tuple[int, int]:
        # The conv stem downsamples by 4, then each patch merging by its stride.
        side = self.img_size // 4
        for stride in self.downsample_strides:
            side //= stride
        return (side, side)


EncoderConfig = Union[ViTEncoderConfig, TinyViTEncoderConfig]


@dataclass(frozen=True)
class PromptEncoderConfig:
    embed_dim: int = 256
    mask_in_chans: int = 16


@dataclass(frozen=True)
class MaskDecoderConfig:
    transformer_dim: int = 256
    transformer_depth: int = 2
    transformer_num_heads: int = 8
    transformer_mlp_dim: int = 2048
    attention_downsample_rate: int = 2
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256


@dataclass(frozen=True)
class SamConfig:
    """Everything needed to build a Sam module. `name` is informative (the preset it came from)."""

    name: str = "vit_b"
    encoder: EncoderConfig = field(default_factory=ViTEncoderConfig)
    prompt_encoder: PromptEncoderConfig = field(default_factory=PromptEncoderConfig)
    mask_decoder: MaskDecoderConfig = field(default_factory=MaskDecoderConfig)
    pixel_mean: tuple[float, float, float] = PIXEL_MEAN_RGB
    pixel_std: tuple[float, float, float] = PIXEL_STD_RGB

    @property
    def img_size(self) -> int:
        return self.encoder.img_size

    @property
    def low_res_mask_hw(self) -> tuple[int, int]:
        """Size of the decoder's low-res logits and of the mask prompt (256x256 for SAM)."""
        h, w = self.encoder.embedding_hw
        return (4 * h, 4 * w)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "SamConfig":
        enc = dict(d["encoder"])
        kind = enc.get("kind", "vit")
        enc_cls = {"vit": ViTEncoderConfig, "tiny_vit": TinyViTEncoderConfig}.get(kind)
        if enc_cls is None:
            raise ValueError(f"unknown encoder kind {kind!r}; expected 'vit' or 'tiny_vit'")
        return SamConfig(
            name=d.get("name", "custom"),
            encoder=enc_cls(**_tuples(enc_cls, enc)),
            prompt_encoder=PromptEncoderConfig(**d["prompt_encoder"]),
            mask_decoder=MaskDecoderConfig(**d["mask_decoder"]),
            pixel_mean=tuple(d.get("pixel_mean", PIXEL_MEAN_RGB)),
            pixel_std=tuple(d.get("pixel_std", PIXEL_STD_RGB)),
        )

    @staticmethod
    def from_json(text: str) -> "SamConfig":
        return SamConfig.from_dict(json.loads(text))


def _tuples(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """JSON turns tuples into lists; turn them back so configs compare equal and stay hashable."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _vit(name: str, embed_dim: int, depth: int, num_heads: int, global_idx: tuple[int, ...]) -> SamConfig:
    return SamConfig(
        name=name,
        encoder=ViTEncoderConfig(
            embed_dim=embed_dim, depth=depth, num_heads=num_heads, global_attn_indexes=global_idx
        ),
    )


# The built-in model's 128-d prompt encoder and two-way decoder, shared by its encoder candidates.
_CPU_PROMPT_ENCODER = PromptEncoderConfig(embed_dim=128, mask_in_chans=16)
_CPU_MASK_DECODER = MaskDecoderConfig(transformer_dim=128, transformer_num_heads=8, transformer_mlp_dim=512,
                                      iou_head_hidden_dim=128)

PRESETS: dict[str, SamConfig] = {
    "vit_b": _vit("vit_b", 768, 12, 12, (2, 5, 8, 11)),
    "vit_l": _vit("vit_l", 1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": _vit("vit_h", 1280, 32, 16, (7, 15, 23, 31)),
    "vit_t": SamConfig(name="vit_t", encoder=TinyViTEncoderConfig()),
    # samkit's built-in default model (docs/model-card.md): sized by measurement for 2 CPU cores.
    # 384 px input -> 24 x 24 tokens and 96 x 96 low-res masks; 192-d x 6 blocks (2 global); a
    # 128-d prompt encoder / decoder. ~3.9M parameters, 7.8 MB in fp16.
    "vit_cpu": SamConfig(
        name="vit_cpu",
        encoder=ViTEncoderConfig(
            img_size=384, embed_dim=192, depth=6, num_heads=3, window_size=12, global_attn_indexes=(2, 5),
            out_chans=128,
        ),
        prompt_encoder=_CPU_PROMPT_ENCODER,
        mask_decoder=_CPU_MASK_DECODER,
    ),
    # The convolutional/hybrid candidate measured against vit_cpu for the built-in model
    # (docs/model-card.md, "Encoder"): MobileSAM's TinyViT shape (conv stem + MBConv stage, then
    # windowed attention) cut down until its 384 px forward costs no more than vit_cpu's on 2 CPU
    # cores (16-48-128-192 channels, 1-1-6-2 blocks; 2.4M encoder parameters vs 3.1M); the same
    # 24 x 24 x 128 embedding, prompt encoder and decoder as vit_cpu.
    "tiny_vit_cpu": SamConfig(
        name="tiny_vit_cpu",
        encoder=TinyViTEncoderConfig(
            img_size=384, embed_dims=(16, 48, 128, 192), depths=(1, 1, 6, 2), num_heads=(1, 2, 4, 6),
            window_sizes=(7, 7, 12, 12), out_chans=128, num_classes=0,
        ),
        prompt_encoder=_CPU_PROMPT_ENCODER,
        mask_decoder=_CPU_MASK_DECODER,
    ),
    # Test presets: random weights, CPU, a fraction of a second per image. 256x256 input gives a
    # 16x16 embedding and 64x64 low-res masks; every code path of the real presets is exercised.
    "tiny": SamConfig(
        name="tiny",
        encoder=ViTEncoderConfig(
            img_size=256, embed_dim=64, depth=2, num_heads=2, window_size=4, global_attn_indexes=(1,),
            out_chans=64,
        ),
        prompt_encoder=PromptEncoderConfig(embed_dim=64, mask_in_chans=16),
        mask_decoder=MaskDecoderConfig(
            transformer_dim=64, transformer_num_heads=4, transformer_mlp_dim=128, iou_head_hidden_dim=64
        ),
    ),
    "tiny_vit_t": SamConfig(
        name="tiny_vit_t",
        encoder=TinyViTEncoderConfig(
            img_size=256, embed_dims=(16, 32, 48, 64), depths=(1, 1, 2, 1), num_heads=(1, 2, 2, 4),
            window_sizes=(7, 7, 7, 7), out_chans=64,
        ),
        prompt_encoder=PromptEncoderConfig(embed_dim=64, mask_in_chans=16),
        mask_decoder=MaskDecoderConfig(
            transformer_dim=64, transformer_num_heads=4, transformer_mlp_dim=128, iou_head_hidden_dim=64
        ),
    ),
}

# tiny_vit_cpu at 512 px (32 x 32 tokens, 128 x 128 low-res masks), for the resolution comparison of
# the built-in model (docs/model-card.md, "Input resolution"); the last two stages' windows grow to
# 16 so that they still tile the 32 x 32 grid 2 x 2 without padding.
PRESETS["tiny_vit_cpu_512"] = dataclasses.replace(
    PRESETS["tiny_vit_cpu"], name="tiny_vit_cpu_512",
    encoder=dataclasses.replace(PRESETS["tiny_vit_cpu"].encoder, img_size=512, window_sizes=(7, 7, 16, 16)),
)

# Aliases accepted wherever a preset name is (segment_anything's registry uses "default" = vit_h).
PRESET_ALIASES: dict[str, str] = {"default": "vit_h"}


def get_preset(name: str) -> SamConfig | Sam2Config:
    """The config of a preset: a SamConfig, or a Sam2Config for SAM 2 names (samkit.config_sam2:
    "sam2.1_hiera_t", "configs/sam2.1/sam2.1_hiera_t.yaml", "facebook/sam2.1-hiera-tiny", ...)."""
    from samkit.errors import InputError

    key = PRESET_ALIASES.get(name, name)
    if key in PRESETS:
        return PRESETS[key]
    sam2_key = resolve_sam2_name(name)
    if sam2_key is not None:
        return SAM2_PRESETS[sam2_key]
    raise InputError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)} or, for SAM 2, "
                     f"{sorted(SAM2_PRESETS)}")
