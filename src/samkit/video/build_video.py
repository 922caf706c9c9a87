"""build_sam2_video_predictor: the drop-in for sam2.build_sam.build_sam2_video_predictor.

    predictor = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt",
                                           device="cpu")

The model is built by samkit.builder_sam2.build_sam2 (config names, presets, checkpoints and model
overrides as there), then given the video state machine. As in the reference,
apply_postprocessing=True also binarizes clicked masks for the memory encoder and fills holes of up
to 8 low-res pixels (fill_hole_area=8). The video predictor's own settings can be given as hydra
overrides ("++model.fill_hole_area=0") or, unlike the reference which ignores them, as keyword
arguments (fill_hole_area=0, non_overlap_masks=True, feature_cache_size=4, ...).

Speed: dtype="bfloat16" is samkit's fast path: the image encoder, the memory attention and the
memory encoder compute in bf16 under autocast (the prompt encoder, the mask decoder and every
output stay float32). dtype="auto" / "int8" choose as load_model does (on CPU the fastest measured
path: the OpenVINO image encoder where `samkit[openvino]` is installed, else torch bf16 or fp32).
The default, float32, gives the reference's numbers. A model from load_model(..., dtype=...) keeps
its dtype in video_predictor_from_model.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable

import torch

from samkit.build import set_encoder_dtype
from samkit.builder_sam2 import build_sam2
from samkit.errors import InputError
from samkit.modeling.sam2.sam2_base import SAM2Base
from samkit.video.video_predictor import SAM2VideoPredictor

# SAM2VideoPredictor's own constructor arguments (not Sam2Config fields) and their value types.
VIDEO_SETTINGS = {"fill_hole_area": int, "non_overlap_masks": bool, "clear_non_cond_mem_around_input": bool,
                  "add_all_frames_to_correct_as_cond": bool, "feature_cache_size": int, "release_old_frames": bool}
_TARGETS = ("sam2.sam2_video_predictor.SAM2VideoPredictor", "sam2.sam2_video_predictor.SAM2VideoPredictorVOS")


def _parse_setting(item: str, name: str, text: str):
    text = text.strip().lower()
    if VIDEO_SETTINGS[name] is bool:
        if text in ("true", "false"):
            return text == "true"
    else:
        try:
            return int(text)
        except ValueError:
            pass
    raise InputError(f"hydra override {item!r}: expected a {VIDEO_SETTINGS[name].__name__}")


def split_video_overrides(overrides: Iterable[str]) -> tuple[list[str], dict[str, Any], bool]:
    """(model overrides for build_sam2, video settings, whether the VOS class was asked for)."""
    model_overrides, settings, vos = [], {}, False
    for item in overrides:
        key, sep, value = item.partition("=") if isinstance(item, str) else ("", "", "")
        path = key.strip().lstrip("+")
        if path == "model._target_":
            if value.strip() not in _TARGETS:
                raise InputError(f"hydra override {item!r}: the video predictor is one of {list(_TARGETS)}")
            vos = value.strip().endswith("VOS")
        elif sep and path.startswith("model.") and path[len("model."):] in VIDEO_SETTINGS:
            name = path[len("model."):]
            settings[name] = _parse_setting(item, name, value)
        else:
            model_overrides.append(item)  # build_sam2 checks these
    return model_overrides, settings, vos


def video_predictor_from_model(model: SAM2Base, **settings: Any) -> SAM2VideoPredictor:
    """A SAM2VideoPredictor with `model`'s modules and weights (shared, not copied) and its settings.

    `model` must carry the Sam2Config that built it (samkit's builders set model.config)."""
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise InputError("video_predictor_from_model needs a model built by samkit (model.config is None)")
    unknown = set(settings) - set(VIDEO_SETTINGS)
    if unknown:
        raise InputError(f"unknown video predictor settings {sorted(unknown)}; known: {sorted(VIDEO_SETTINGS)}")
    skip = {"name", "image_encoder", "memory_attention", "memory_encoder", "sam_mask_decoder_extra_args"}
    kwargs = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in skip}
    extra = cfg.sam_mask_decoder_extra_args
    kwargs["sam_mask_decoder_extra_args"] = dataclasses.asdict(extra) if extra is not None else None
    kwargs["compile_image_encoder"] = False  # model's image encoder is compiled already when asked for
    predictor = SAM2VideoPredictor(image_encoder=model.image_encoder, memory_attention=model.memory_attention,
                                   memory_encoder=model.memory_encoder, **kwargs, **settings)
    predictor.to(model.device)
    predictor.load_state_dict(model.state_dict(), strict=True)
    # The freshly made heads are replaced by model's own (shared, as the three modules above).
    for name, module in model.named_children():
        setattr(predictor, name, module)
    predictor.encoder_dtype = model.encoder_dtype
    predictor.encoder_backend = getattr(model, "encoder_backend", None)  # samkit.accel's OpenVINO encoder
    predictor.config = cfg
    predictor.train(model.training)
    return predictor


def _compile_for_vos(predictor: SAM2VideoPredictor) -> None:
    """The reference's SAM2VideoPredictorVOS compiles the heads and memory modules (forward only,
    so checkpoint keys stay)."""
    mode = "max-autotune" if predictor.device.type == "cuda" else None
    for name, dynamic in (("memory_encoder", False), ("memory_attention", True), ("sam_prompt_encoder", False),
                          ("sam_mask_decoder", False), ("image_encoder", False)):
        module = getattr(predictor, name)
        module.forward = torch.compile(module.forward, mode=mode, dynamic=dynamic)


def build_sam2_video_predictor(config_file, ckpt_path: str | os.PathLike | None = None,
                               device: str | torch.device | None = "cuda", mode: str = "eval",
                               hydra_overrides_extra: Iterable[str] = (), apply_postprocessing: bool = True,
                               vos_optimized: bool = False, dtype: str | torch.dtype | None = None,
                               **kwargs: Any) -> SAM2VideoPredictor:
    """sam2.build_sam.build_sam2_video_predictor for samkit (same arguments and defaults).

    config_file: an official config name ("configs/sam2.1/sam2.1_hiera_t.yaml"), a samkit preset
    name or a Sam2Config; ckpt_path: official .pt or samkit .safetensors (None: random weights).
    kwargs: SAM2VideoPredictor settings (fill_hole_area, non_overlap_masks, ...); others are
    ignored, as the reference ignores them. dtype (samkit): "float32" (default), "bfloat16", "auto"
    or "int8", as load_model's: the image encoder's path ("auto" on CPU: the fastest measured, the
    OpenVINO encoder where `samkit[openvino]` is installed) and the memory modules' compute dtype."""
    model_overrides, settings, vos = split_video_overrides(list(hydra_overrides_extra))
    if apply_postprocessing:
        # Masks made by clicks enter memory exactly as the user sees them; small holes get filled.
        model_overrides.append("++model.binarize_mask_from_pts_for_mem_enc=true")
        settings["fill_hole_area"] = 8
    settings.update({k: v for k, v in kwargs.items() if k in VIDEO_SETTINGS})
    model = build_sam2(config_file, ckpt_path=ckpt_path, device=device, mode=mode,
                       hydra_overrides_extra=model_overrides, apply_postprocessing=apply_postprocessing)
    set_encoder_dtype(model, dtype, model.device)  # "auto" on CPU: load_model's path (OpenVINO where installed)
    predictor = video_predictor_from_model(model, **settings)
    if vos_optimized or vos:
        _compile_for_vos(predictor)
    return predictor


def build_sam2_video_predictor_hf(model_id: str, **kwargs: Any) -> SAM2VideoPredictor:
    """sam2.build_sam.build_sam2_video_predictor_hf: the released weights of a Hugging Face id
    ("facebook/sam2.1-hiera-tiny"), from samkit's download folder or the Hugging Face cache."""
    from samkit.builder_sam2 import _pretrained_file, pretrained_checkpoint_path

    preset, _ = _pretrained_file(model_id)
    return build_sam2_video_predictor(preset, ckpt_path=pretrained_checkpoint_path(model_id), **kwargs)
