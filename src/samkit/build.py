"""Config -> modules, and checkpoint IO.

Two checkpoint formats are read:
- official raw state dicts (sam_vit_{b,l,h}_*.pth, mobile_sam.pt), loaded with weights_only=True and a
  strict key check; the preset is inferred from the tensor shapes when not given;
- samkit's own: one .safetensors file whose metadata holds the SamConfig JSON that built it, so the
  checkpoint rebuilds its own model (`save_checkpoint` / `load_checkpoint`).
SAM 2 names, configs and checkpoints (official `{"model": ...}` .pt files, samkit's "samkit.sam2.v1"
safetensors) are recognised here and handed to samkit.builder_sam2, so `load_model` takes either family.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from samkit.checkpoint_files import SAFETENSORS_CONFIG_KEY, SAFETENSORS_FORMAT, SAFETENSORS_FORMAT_KEY  # noqa: F401
from samkit.checkpoint_files import guess_sam1_preset as _guess_preset
from samkit.checkpoint_files import read_torch_state_dict as _read_torch_state_dict
from samkit.checkpoint_files import state_dict_mismatch
from samkit.config import PRESETS, SamConfig, get_preset
from samkit.config_sam2 import Sam2Config, is_sam2_name
from samkit.default_model import BUILTIN_SAM2_NAMES, default_weights
from samkit.errors import CheckpointError, InputError
from samkit.modeling.image_encoder import ImageEncoderViT
from samkit.modeling.mask_decoder import MaskDecoder
from samkit.modeling.prompt_encoder import PromptEncoder
from samkit.modeling.sam import Sam
from samkit.modeling.transformer import TwoWayTransformer


def build_sam(config: SamConfig | str) -> Sam:
    """A Sam with freshly initialised weights, in eval mode, on the CPU, fp32.

    A SAM 2 preset name or Sam2Config gives a SAM2Base (samkit.builder_sam2.build_sam2_model).
    """
    cfg = get_preset(config) if isinstance(config, str) else config
    if isinstance(cfg, Sam2Config):
        from samkit.builder_sam2 import build_sam2_model

        return build_sam2_model(cfg).eval()
    enc = cfg.encoder
    if enc.kind == "vit":
        image_encoder = ImageEncoderViT(enc)
    elif enc.kind == "tiny_vit":
        from samkit.modeling.tiny_vit import TinyViT

        image_encoder = TinyViT(enc)
    else:  # pragma: no cover - SamConfig.from_dict already rejects unknown kinds
        raise ValueError(f"unknown encoder kind {enc.kind!r}")
    p, d = cfg.prompt_encoder, cfg.mask_decoder
    if enc.out_chans != p.embed_dim or p.embed_dim != d.transformer_dim:
        raise ValueError(f"encoder out_chans ({enc.out_chans}), prompt embed_dim ({p.embed_dim}) and decoder "
                         f"transformer_dim ({d.transformer_dim}) must be equal")
    model = Sam(
        image_encoder=image_encoder,
        prompt_encoder=PromptEncoder(p.embed_dim, enc.embedding_hw, (enc.img_size, enc.img_size), p.mask_in_chans),
        mask_decoder=MaskDecoder(
            transformer_dim=d.transformer_dim,
            transformer=TwoWayTransformer(d.transformer_depth, d.transformer_dim, d.transformer_num_heads,
                                          d.transformer_mlp_dim, d.attention_downsample_rate),
            num_multimask_outputs=d.num_multimask_outputs,
            iou_head_depth=d.iou_head_depth,
            iou_head_hidden_dim=d.iou_head_hidden_dim,
        ),
        pixel_mean=cfg.pixel_mean,
        pixel_std=cfg.pixel_std,
        config=cfg,
    )
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Official state dicts


def load_state_dict_strict(model: Sam, state: dict[str, torch.Tensor], source: str, preset: str) -> None:
    """Load with a strict key and shape check; the error names the file and what did not fit."""
    parts = state_dict_mismatch(model.state_dict(), state)
    if parts:
        guess = _guess_preset(state)
        hint = f"; it looks like {guess}, you asked for {preset}" if guess and guess != preset else ""
        sam2 = _describe_if_sam2(state)
        if sam2:
            hint = f"; it is {sam2}, not a SAM 1 one"
        raise CheckpointError(f"{source} does not fit preset {preset}: {', '.join(parts)}{hint}")
    model.load_state_dict(state, strict=True)


def _describe_if_sam2(state: dict[str, torch.Tensor]) -> str | None:
    from samkit.checkpoint_sam2 import checkpoint_family, describe_state_dict

    return describe_state_dict(state) if checkpoint_family(state) == "sam2" else None


def _load_sam2_state(state: dict[str, torch.Tensor], path: Path, name: str | None):
    """An official SAM 2 state dict found where any checkpoint is accepted."""
    from samkit.builder_sam2 import sam2_from_state_dict

    if name is not None and not is_sam2_name(name):
        raise CheckpointError(f"{path} is {_describe_if_sam2(state)}, you asked for the SAM 1 preset {name}")
    return sam2_from_state_dict(state, str(path), name)


# ---------------------------------------------------------------------------------------------
# samkit's own format


def save_checkpoint(model: Sam, path: str | os.PathLike, metadata: dict[str, str] | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write weights + config to one .safetensors file, atomically (temp file, then rename).

    Works for Sam and SAM2Base alike (the format key says which: samkit.sam.v1 / samkit.sam2.v1).

    dtype: optionally store weights in another float dtype (e.g. torch.float16 to halve the size).
    """
    from safetensors.torch import save_file

    if model.config is None:
        raise ValueError("model has no config; build it with samkit.build_sam, build_sam2 or load_model")
    path = Path(path)
    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v.contiguous()
    fmt = SAFETENSORS_FORMAT
    if isinstance(model.config, Sam2Config):
        from samkit.checkpoint_sam2 import SAFETENSORS_FORMAT_SAM2 as fmt
    meta = {SAFETENSORS_FORMAT_KEY: fmt, SAFETENSORS_CONFIG_KEY: model.config.to_json()}
    from samkit.builder_text import text_metadata  # the optional text-prompt path (config_text)

    meta.update(text_metadata(model))
    meta.update(metadata or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def read_checkpoint_config(path: str | os.PathLike) -> tuple[SamConfig | Sam2Config, dict[str, str]]:
    """The SamConfig (Sam2Config for SAM 2) and metadata in a samkit .safetensors checkpoint (weights
    not read)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    if SAFETENSORS_CONFIG_KEY not in meta:
        raise CheckpointError(f"{path}: safetensors file without a samkit config (metadata keys: "
                              f"{sorted(meta)}); pass --model to say which preset it is")
    from samkit.checkpoint_sam2 import SAFETENSORS_FORMAT_SAM2, read_sam2_safetensors_config

    if meta.get(SAFETENSORS_FORMAT_KEY) == SAFETENSORS_FORMAT_SAM2:
        return read_sam2_safetensors_config(meta, path), meta
    try:
        return SamConfig.from_json(meta[SAFETENSORS_CONFIG_KEY]), meta
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: invalid samkit config in metadata: {e}") from None


def load_checkpoint(path: str | os.PathLike, name: str | None = None) -> Sam:
    """Build and load any checkpoint: samkit .safetensors (self-describing) or an official state dict.

    name: the preset to expect. Required for nothing; checked against the file when given.
    SAM 2 files (and SAM 2 names with a bare safetensors state dict) give a SAM2Base in eval mode.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"checkpoint path is a directory: {path}")
    with open(path, "rb") as f:
        head = f.read(16)
    if path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{"):
        return _load_safetensors(path, name)
    state = _read_torch_state_dict(path)
    if _describe_if_sam2(state) is not None or (name is not None and is_sam2_name(name)):
        return _load_sam2_state(state, path, name).eval()
    preset = name or _guess_preset(state)
    if preset is None:
        raise CheckpointError(f"{path}: cannot tell which preset this state dict is; pass --model "
                              f"(one of {sorted(PRESETS)})")
    model = build_sam(preset)
    load_state_dict_strict(model, state, str(path), preset)
    return model


AMG_DEFAULTS_KEY = "samkit_amg_defaults"  # JSON {"pred_iou_thresh": .., "stability_score_thresh": ..}


def _load_safetensors(path: Path, name: str | None) -> Sam:
    from safetensors.torch import load_file


    meta: dict[str, str] = {}
    try:
        cfg, meta = read_checkpoint_config(path)
    except CheckpointError:
        if name is None:
            raise
        cfg = get_preset(name)  # a bare safetensors state dict plus an explicit preset
    if isinstance(cfg, Sam2Config) or (name is not None and is_sam2_name(name)):
        if not isinstance(cfg, Sam2Config):
            raise CheckpointError(f"{path} holds a SAM 1 model ({cfg.name}), you asked for the SAM 2 preset {name}")
        if name is not None and not is_sam2_name(name):
            raise CheckpointError(f"{path} holds a SAM 2 model ({cfg.name}), you asked for the SAM 1 preset {name}")
        from samkit.builder_sam2 import load_sam2_checkpoint

        return load_sam2_checkpoint(path, name).eval()
    if meta:
        if name is not None and get_preset(name) != cfg and cfg.name != name:
            raise CheckpointError(f"{path} holds a {cfg.name} model, you asked for {name}")
    model = build_sam(cfg)
    try:
        state = load_file(str(path))
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read tensors ({type(e).__name__}: {e})") from None
    dtype_of = {k: v.dtype for k, v in model.state_dict().items()}
    state = {k: (v.to(dtype_of[k]) if k in dtype_of and v.is_floating_point() else v) for k, v in state.items()}
    from samkit.builder_text import attach_from_metadata

    attach_from_metadata(model, meta, str(path))  # a text path, when the file has one
    load_state_dict_strict(model, state, str(path), cfg.name)
    if AMG_DEFAULTS_KEY in meta:  # thresholds the model's trainer recommends for automatic masks
        try:
            model.amg_defaults = {k: float(v) for k, v in json.loads(meta[AMG_DEFAULTS_KEY]).items()}
        except (ValueError, AttributeError) as e:
            raise CheckpointError(f"{path}: unreadable {AMG_DEFAULTS_KEY} metadata ({e})") from None
    return model


# ---------------------------------------------------------------------------------------------
# One entry point


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise CheckpointError(f"invalid device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CheckpointError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


class DtypeError(InputError, CheckpointError):
    """An unknown or unsupported dtype (an InputError; a CheckpointError for older callers)."""


ENCODER_DTYPES = ("float32", "bfloat16", "float16", "auto", "int8")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """Encoder compute dtype for torch. 'auto' picks bf16 where the hardware runs it fast, else fp32
    (load_model's 'auto' goes further: samkit.accel picks the fastest measured path, OpenVINO included)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "float32", "fp32"):
        return torch.float32
    if dtype in ("bfloat16", "bf16"):
        return torch.bfloat16
    if dtype in ("float16", "fp16"):
        if device.type == "cpu":
            raise DtypeError("float16 is not supported on CPU; use bfloat16 or float32")
        return torch.float16
    if dtype == "auto":
        return torch.bfloat16 if fast_bf16_available(device) else torch.float32
    raise DtypeError(f"unknown dtype {dtype!r}; expected one of {', '.join(ENCODER_DTYPES)}")


def _encoder_path_for(model, dtype, dev: torch.device) -> str | None:
    """The samkit.accel path a SAM 1 or SAM 2 model on CPU gets for `dtype` ('auto' / 'int8'), else None."""
    if dtype == "int8":
        if dev.type != "cpu":
            raise DtypeError(f"dtype 'int8' runs the encoder on CPU (OpenVINO + NNCF), not on {dev}")
        return "openvino-int8"
    if dtype == "auto" and dev.type == "cpu":
        from samkit.accel.cpu_paths import choose_auto_path

        return choose_auto_path(dev, getattr(model.config, "name", None))[0]
    return None


def fast_bf16_available(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def load_model(name: str | None = None, checkpoint: str | os.PathLike | None = None,
               device: str | torch.device | None = None, dtype: str | torch.dtype | None = None) -> Sam:
    """A ready model in eval mode on `device`, with the image encoder computing in `dtype`.

    name: a preset ("vit_b", "vit_l", "vit_h", "vit_t", "tiny"...; SAM 2: "sam2.1_hiera_t", ...,
    "sam2_test_tiny"), or "sam2" for samkit's built-in SAM 2 model. checkpoint: an official .pth/.pt (SAM 1 or SAM 2) or a samkit .safetensors.
    With a checkpoint only, the preset is read from it; with a name only, the weights are random
    (useful for tests and benchmarks). SAM 2 gives a samkit SAM2Base, SAM 1 a Sam; a SAM 2 model gets
    the reference build_sam2's eval-time decoder fallback (apply_postprocessing=True), whatever the file.
    dtype: float32, bfloat16, float16 (GPU), "auto" (on CPU: the fastest path measured for this CPU
    and model, OpenVINO's included when the extra is installed; see samkit.accel.cpu_paths) or "int8"
    (on CPU: OpenVINO + NNCF int8 calibrated on real photos; an explicit choice, never picked by auto).
    """
    if checkpoint is not None:
        model = load_checkpoint(checkpoint, None if name in BUILTIN_SAM2_NAMES else name)
    elif name in BUILTIN_SAM2_NAMES:
        model = load_checkpoint(default_weights(sam2=True))
    elif name is not None:
        model = build_sam(name)
    else:
        model = load_checkpoint(default_weights())
    if isinstance(model.config, Sam2Config):  # ready for inference, as sam2's build_sam2 makes it
        from samkit.builder_sam2 import set_eval_postprocessing

        set_eval_postprocessing(model)
    dev = resolve_device(device)
    model = model.to(dev).eval()
    set_encoder_dtype(model, dtype, dev)
    return model


def set_encoder_dtype(model, dtype: str | torch.dtype | None, device: torch.device) -> None:
    """Make `model` (a Sam or SAM2Base already on `device`) encode images in `dtype`, as load_model
    does: "auto" / "int8" on CPU pick a samkit.accel path (the OpenVINO encoder where the extra is
    installed, else torch), anything else sets model.encoder_dtype (resolve_dtype)."""
    path = _encoder_path_for(model, dtype, device)  # SAM 1 and SAM 2 alike (samkit.accel)
    if path is None:
        model.encoder_dtype = resolve_dtype(dtype, device)
    else:  # CPU paths: torch bf16/fp32 or the OpenVINO encoder (falls back to torch without the extra)
        from samkit.accel.cpu_paths import resolve_encoder_path

        resolve_encoder_path(model, path, device)


def _registry_builder(preset: str):
    def build(checkpoint: str | os.PathLike | None = None) -> Sam:
        if checkpoint is None:
            return build_sam(preset)
        return load_checkpoint(checkpoint, preset)

    build.__name__ = f"build_sam_{preset}"
    return build


# Drop-in for segment_anything.sam_model_registry: sam_model_registry["vit_b"](checkpoint=path).
sam_model_registry: dict[str, Any] = {name: _registry_builder(name) for name in ("vit_b", "vit_l", "vit_h", "vit_t")}
sam_model_registry["default"] = sam_model_registry["vit_h"]
