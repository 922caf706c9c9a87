"""Sam2Config -> SAM2Base, and the drop-in for `sam2.build_sam`.

    from samkit.builder_sam2 import build_sam2
    model = build_sam2("configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt", device="cpu")

`build_sam2` takes the reference's arguments: official config names (or samkit preset names, or a
Sam2Config), an official `{"model": state_dict}` checkpoint or a samkit .safetensors one, and the
common "++model.<field>=<value>" hydra overrides. `from_pretrained` (alias `build_sam2_hf`)
resolves Hugging Face ids ("facebook/sam2.1-hiera-large") to the same files.

Decisions (differences from the reference, on purpose):
- device="cuda" (the reference's default) on a machine without CUDA raises an InputError that says
  to pass device="cpu" (the reference fails there too, less clearly); samkit never silently moves a
  model to another device. device="auto" picks CUDA when present.
- `**kwargs` are ignored, as the reference ignores them (predictors forward their own kwargs).
- The video predictor builders (build_sam2_video_predictor, build_sam2_video_predictor_hf) live in
  samkit.video.build_video, above inference in the import order; `samkit` re-exports them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterable

import torch

from samkit.checkpoint_sam2 import (
    SAFETENSORS_FORMAT_SAM2, describe_state_dict, guess_sam2_preset, is_safetensors_file,
    load_sam2_state_dict_strict, read_safetensors_state, read_sam2_safetensors_config, read_sam2_state_dict,
)
from samkit.config_sam2 import (
    EVAL_POSTPROCESSING, HF_MODEL_IDS, SAM2_PRESETS, Sam2Config, get_sam2_preset, resolve_sam2_name,
)
from samkit.config_sam2_hydra import apply_hydra_overrides
from samkit.errors import CheckpointError, DownloadError, InputError, SamkitError
from samkit.modeling.sam2.hiera import Hiera
from samkit.modeling.sam2.image_encoder import FpnNeck, ImageEncoder
from samkit.modeling.sam2.memory_attention import MemoryAttention, MemoryAttentionLayer, RoPEAttention
from samkit.modeling.sam2.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
from samkit.modeling.sam2.position_encoding import PositionEmbeddingSine
from samkit.modeling.sam2.sam2_base import SAM2Base



def _kwargs(cfg: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """A config dataclass's fields as constructor keyword arguments (shallow)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in skip}


def resolve_sam2_config(config: Sam2Config | str) -> Sam2Config:
    if isinstance(config, Sam2Config):
        return config
    if isinstance(config, (str, os.PathLike)):
        return get_sam2_preset(os.fspath(config))
    raise InputError(f"expected a SAM 2 preset name, config file name or Sam2Config, got {type(config).__name__}")


def build_sam2_model(config: Sam2Config | str) -> SAM2Base:
    """A SAM2Base with freshly initialised weights, on the CPU, fp32, in train mode (as built)."""
    cfg = resolve_sam2_config(config)
    ie, ma, me = cfg.image_encoder, cfg.memory_attention, cfg.memory_encoder
    neck = FpnNeck(position_encoding=PositionEmbeddingSine(**_kwargs(ie.neck.position_encoding)),
                   **_kwargs(ie.neck, skip=("position_encoding",)))
    image_encoder = ImageEncoder(trunk=Hiera(**_kwargs(ie.trunk)), neck=neck, scalp=ie.scalp)
    layer = MemoryAttentionLayer(
        self_attention=RoPEAttention(**_kwargs(ma.layer.self_attention)),
        cross_attention=RoPEAttention(**_kwargs(ma.layer.cross_attention)),
        **_kwargs(ma.layer, skip=("self_attention", "cross_attention")),
    )
    memory_attention = MemoryAttention(layer=layer, **_kwargs(ma, skip=("layer",)))
    memory_encoder = MemoryEncoder(
        mask_downsampler=MaskDownSampler(**_kwargs(me.mask_downsampler)),
        fuser=Fuser(layer=CXBlock(**_kwargs(me.fuser.layer)), **_kwargs(me.fuser, skip=("layer",))),
        position_encoding=PositionEmbeddingSine(**_kwargs(me.position_encoding)),
        **_kwargs(me, skip=("mask_downsampler", "fuser", "position_encoding")),
    )
    extra = cfg.sam_mask_decoder_extra_args
    model = SAM2Base(
        image_encoder=image_encoder, memory_attention=memory_attention, memory_encoder=memory_encoder,
        sam_mask_decoder_extra_args=dataclasses.asdict(extra) if extra is not None else None,
        **_kwargs(cfg, skip=("name", "image_encoder", "memory_attention", "memory_encoder",
                             "sam_mask_decoder_extra_args")),
    )
    model.config = cfg
    return model


def set_eval_postprocessing(model: SAM2Base) -> SAM2Base:
    """Give a built model the decoder fallback of the reference's build_sam2(apply_postprocessing=True)
    (EVAL_POSTPROCESSING) in place: plain attributes, no weights change. Returns the model."""
    extra = dataclasses.asdict(EVAL_POSTPROCESSING)
    for key, value in extra.items():
        setattr(model.sam_mask_decoder, key, value)
    model.sam_mask_decoder_extra_args = extra
    if isinstance(model.config, Sam2Config):
        model.config = model.config.with_eval_postprocessing()
    return model


# ---------------------------------------------------------------------------------------------
# Checkpoints


def sam2_from_state_dict(state: dict[str, torch.Tensor], source: str, name: str | None = None) -> SAM2Base:
    """Build the preset `name` (guessed from the tensors when None) and load `state` strictly."""
    preset = resolve_sam2_name(name) if name is not None else guess_sam2_preset(state)
    if name is not None and preset is None:
        get_sam2_preset(name)  # raises the unknown-name InputError
    if preset is None:
        what = describe_state_dict(state) or "not a SAM state dict"
        raise CheckpointError(f"{source}: cannot tell which SAM 2 preset this is ({what}); pass the preset "
                              f"name (one of {sorted(SAM2_PRESETS)})")
    model = build_sam2_model(preset)
    load_sam2_state_dict_strict(model, state, source, preset)
    return model


def _safetensors_meta(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None


def load_sam2_checkpoint(path: str | os.PathLike, name: str | None = None) -> SAM2Base:
    """Build and load a SAM 2 checkpoint: samkit .safetensors (self-describing) or an official .pt.

    name: the preset to expect (optional; checked against the file when given). Train mode, CPU.
    """
    from samkit.checkpoint_files import SAFETENSORS_FORMAT_KEY

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not is_safetensors_file(path):
        return sam2_from_state_dict(read_sam2_state_dict(path), str(path), name)
    meta = _safetensors_meta(path)
    fmt = meta.get(SAFETENSORS_FORMAT_KEY)
    if fmt == SAFETENSORS_FORMAT_SAM2:
        cfg = read_sam2_safetensors_config(meta, path)
        if name is not None and resolve_sam2_name(name) != cfg.name and get_sam2_preset(name) != cfg:
            raise CheckpointError(f"{path} holds a {cfg.name} model, you asked for {name}")
    elif fmt is not None:
        raise CheckpointError(f"{path} is a samkit SAM 1 checkpoint ({fmt}), not a SAM 2 one; load it with "
                              f"samkit.load_model(checkpoint=...)")
    elif name is not None:
        cfg = get_sam2_preset(name)  # a bare safetensors state dict plus an explicit preset
    else:
        raise CheckpointError(f"{path}: safetensors file without a samkit config; pass the SAM 2 preset name")
    model = build_sam2_model(cfg)
    load_sam2_state_dict_strict(model, read_safetensors_state(path, model), str(path), cfg.name)
    return model


def _load_weights_into(model: SAM2Base, ckpt_path: str | os.PathLike, preset: str) -> None:
    path = Path(ckpt_path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if is_safetensors_file(path):
        state = read_safetensors_state(path, model)
    else:
        state = read_sam2_state_dict(path)
    load_sam2_state_dict_strict(model, state, str(path), preset)


# ---------------------------------------------------------------------------------------------
# The drop-in


def _build_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"invalid device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={str(device)!r} (build_sam2's default, as in sam2) but CUDA is not available "
                         f"on this machine; pass device='cpu' (or 'auto')")
    return dev


def build_sam2(config_file: Sam2Config | str, ckpt_path: str | os.PathLike | None = None,
               device: str | torch.device | None = "cuda", mode: str = "eval",
               hydra_overrides_extra: Iterable[str] = (), apply_postprocessing: bool = True,
               **kwargs: Any) -> SAM2Base:
    """sam2.build_sam.build_sam2 for samkit: a SAM2Base on `device`, in eval mode when mode="eval".

    config_file: "configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_t.yaml", "sam2.1_hiera_t",
    "sam2.1_hiera_tiny", "facebook/sam2.1-hiera-tiny", ... or a Sam2Config.
    ckpt_path: official `{"model": state_dict}` .pt or samkit .safetensors; None = random weights.
    hydra_overrides_extra: "++model.<field path>=<value>" strings (samkit.config_sam2_hydra).
    apply_postprocessing: as in the reference, the mask decoder falls back to the best multimask
    output when the single mask is unstable (dynamic_multimask_via_stability, 0.05, 0.98); applied
    after hydra_overrides_extra, so it wins, as in the reference.
    """
    cfg = resolve_sam2_config(config_file)
    cfg = apply_hydra_overrides(cfg, list(hydra_overrides_extra))
    if apply_postprocessing:
        cfg = cfg.with_eval_postprocessing()
    dev = _build_device(device)
    model = build_sam2_model(cfg)
    if ckpt_path is not None:
        _load_weights_into(model, ckpt_path, cfg.name)
    model = model.to(dev)
    if mode == "eval":
        model.eval()
    return model


def _pretrained_file(model_id: str) -> tuple[str, str]:
    """(preset, checkpoint file name) for a HF id or an official preset name."""
    if model_id in HF_MODEL_IDS:
        return HF_MODEL_IDS[model_id]
    preset = resolve_sam2_name(model_id)
    for hf_preset, filename in HF_MODEL_IDS.values():
        if hf_preset == preset:
            return preset, filename
    raise InputError(f"no pretrained SAM 2 weights for {model_id!r}; choose one of {sorted(HF_MODEL_IDS)}")


def _hf_repo_of(preset: str) -> str:
    return next(repo for repo, (p, _) in HF_MODEL_IDS.items() if p == preset)


def pretrained_checkpoint_path(model_id: str) -> Path:
    """The local checkpoint for a HF id ("facebook/sam2.1-hiera-tiny") or preset ("sam2.1_hiera_t"):
    samkit's download folder first (`samkit download`), then the Hugging Face cache / hub."""
    from samkit.download import default_checkpoint_dir

    preset, filename = _pretrained_file(model_id)
    local = default_checkpoint_dir() / filename
    if local.is_file():
        return local
    todo = (f"run `samkit download {preset}` (or download {filename} yourself and pass "
            f"ckpt_path=... to samkit.builder_sam2.build_sam2({preset!r}, ckpt_path))")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise DownloadError(f"{filename} is not in {local.parent} and huggingface_hub is not installed; {todo}") \
            from None
    try:
        return Path(hf_hub_download(repo_id=_hf_repo_of(preset), filename=filename))
    except Exception as e:  # offline, no such file, hub errors: one message that says what to do
        first = str(e).splitlines()[0][:200] if str(e) else ""
        raise DownloadError(f"cannot get {filename} from the Hugging Face hub ({type(e).__name__}: {first}); "
                            f"{todo}") from None


def from_pretrained(model_id: str, **kwargs: Any) -> SAM2Base:
    """sam2.build_sam.build_sam2_hf: build_sam2(<its config>, <its downloaded checkpoint>, **kwargs)."""
    preset, _ = _pretrained_file(model_id)
    return build_sam2(preset, ckpt_path=pretrained_checkpoint_path(model_id), **kwargs)


build_sam2_hf = from_pretrained
