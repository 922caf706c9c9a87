"""Training configuration: dataclasses only. A TOML/YAML file, CLI flags (generated from these
fields by samkit.cli.config_flags) and the YAML saved next to every checkpoint all map onto
`TrainConfig`. Unknown keys are errors that name the key, never silently ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samkit.data.specs import DatasetSpec
from samkit.data.transforms import AugmentConfig
from samkit.errors import InputError
from samkit.training.losses import LossConfig
from samkit.training.prompts import PromptSimConfig
from samkit.training.sam2_losses import Sam2LossConfig
from samkit.training.sam2_prompts import Sam2PromptConfig

FINETUNE_MODES = ("full", "frozen_encoder", "decoder_only", "lora")


@dataclass(frozen=True)
class ModelSection:
    """preset: a samkit preset name; checkpoint: official .pth or samkit .safetensors to start from
    (empty = from scratch, random init)."""

    preset: str = "tiny"
    checkpoint: str = ""


@dataclass(frozen=True)
class DataSection:
    """train / val: dataset specs. Without val, val_fraction of every train source is held out
    (deterministically, by split_seed)."""

    train: tuple[DatasetSpec, ...] = ()
    val: tuple[DatasetSpec, ...] = ()
    val_fraction: float = 0.1
    split_seed: int = 0
    masks_per_image: int = 8
    val_masks_per_image: int = 16
    min_mask_area_px: int = 16
    epoch_length: int = 0  # mixture's virtual epoch size; 0 = sum of the sources
    num_workers: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    use_augment: bool = True


@dataclass(frozen=True)
class OptimSection:
    """AdamW with linear warmup then cosine (or step) decay to lr * min_lr_ratio."""

    lr: float = 4e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    schedule: str = "cosine"  # cosine | step | constant
    step_milestones: tuple[float, ...] = (0.85, 0.95)  # fractions of max_steps, x0.1 at each (paper)
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    grad_accum: int = 1
    lr_scales: tuple[str, ...] = ()  # "module.prefix=scale" entries, e.g. ("sam_mask_decoder=0.25",)


@dataclass(frozen=True)
class RunSection:
    run_dir: str = "runs/train"
    max_steps: int = 1000
    batch_size: int = 2  # images per rank per micro-batch
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch CPU threads per process; 0 = torch's default (1 is best on a busy CPU)
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    mode: str = "full"  # full | frozen_encoder | decoder_only | lora
    lora_rank: int = 8
    lora_alpha: float = 8.0
    cache_embeddings: bool = False  # frozen encoder + no augmentation only
    log_every: int = 10
    val_every: int = 200
    val_clicks: int = 5
    ckpt_every: int = 500
    keep_checkpoints: int = 3  # newest periodic checkpoints kept; 0 keeps all
    max_minutes: float = 0.0  # stop (with a checkpoint) after this wall time; 0 = no limit
    # with max_minutes: measure the step rate and make max_steps (and the lr schedule's length) fit
    # the time, so the schedule ends as the time does (e.g. a fixed lease on a GPU machine)
    fit_schedule_to_time: bool = False
    progress: bool = True


@dataclass(frozen=True)
class Sam2Section:
    """SAM 2 runs only (a SAM 2 preset or checkpoint): clips of num_frames frames (1 = images, SAM's
    task; image sources become clips by random affine motion when > 1), up to max_objects tracked
    objects per clip, the mask losses on the "image" grid (the reference) or the decoder's "low_res"
    grid (16x cheaper), the reference's prompt simulation and the SAM 2-only loss terms.
    val_max_objects: objects per held-out clip in validation (more than max_objects, so the score
    covers more of each held-out item, like data.val_masks_per_image for SAM 1)."""

    num_frames: int = 8
    max_objects: int = 3
    val_max_objects: int = 8
    loss_grid: str = "image"
    prompts: Sam2PromptConfig = field(default_factory=Sam2PromptConfig)
    loss: Sam2LossConfig = field(default_factory=Sam2LossConfig)


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)
    prompts: PromptSimConfig = field(default_factory=PromptSimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sam2: Sam2Section = field(default_factory=Sam2Section)

    def validate(self) -> "TrainConfig":
        r, o = self.run, self.optim
        if r.mode not in FINETUNE_MODES:
            raise InputError(f"run.mode {r.mode!r} is not one of {FINETUNE_MODES}")
        if r.precision not in ("fp32", "bf16"):
            raise InputError(f"run.precision {r.precision!r} must be fp32 or bf16")
        if o.schedule not in ("cosine", "step", "constant"):
            raise InputError(f"optim.schedule {o.schedule!r} must be cosine, step or constant")
        for name, v in (("run.max_steps", r.max_steps), ("run.batch_size", r.batch_size), ("optim.grad_accum", o.grad_accum),
                        ("data.masks_per_image", self.data.masks_per_image), ("run.val_clicks", r.val_clicks)):
            if v < 1:
                raise InputError(f"{name} must be >= 1, got {v}")
        if r.fit_schedule_to_time and r.max_minutes <= 0:
            raise InputError("run.fit_schedule_to_time needs run.max_minutes > 0: it fits the schedule to that time")
        if r.cache_embeddings and (r.mode in ("full", "lora") or self.data.use_augment):
            raise InputError("run.cache_embeddings needs a frozen encoder (mode frozen_encoder or decoder_only) and "
                             "data.use_augment = false: an augmented image has a different embedding every step")
        s2 = self.sam2
        if s2.num_frames < 1 or s2.max_objects < 1 or s2.val_max_objects < 1:
            raise InputError(f"sam2.num_frames, sam2.max_objects and sam2.val_max_objects must be >= 1, got "
                             f"{s2.num_frames}, {s2.max_objects}, {s2.val_max_objects}")
        if s2.loss_grid not in ("image", "low_res"):
            raise InputError(f"sam2.loss_grid {s2.loss_grid!r} must be image or low_res")
        if not self.data.train:
            raise InputError("no training data: add [[data.train]] entries to the config or pass --data PATH")
        return self


def _build(cls: type, values: Any, where: str, base: Any = None):
    """dict -> dataclass `cls`, recursively; tuples from lists; errors name the offending key.

    base: an instance of `cls` whose values stand for the keys `values` leaves out (default: cls())."""
    if dataclasses.is_dataclass(values):
        return values
    if not isinstance(values, dict):
        raise InputError(f"{where or 'config'}: expected a table/mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InputError(f"unknown config key(s) {', '.join((where + '.' if where else '') + k for k in unknown)}; "
                         f"valid keys: {sorted(fields)}")
    kwargs = {}
    defaults = base if base is not None else cls()
    for name, value in values.items():
        default = getattr(defaults, name)
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, key, default)
        elif name in ("train", "val") and cls is DataSection:
            if isinstance(value, (dict, str)):
                value = [value]
            kwargs[name] = tuple(_build(DatasetSpec, {"path": v} if isinstance(v, str) else v, f"{key}[{i}]")
                                 for i, v in enumerate(value))
        elif isinstance(default, tuple):
            kwargs[name] = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise InputError(f"{key} must be true or false, got {value!r}")
            kwargs[name] = value
        elif isinstance(default, (int, float)) and not isinstance(value, (int, float)):
            raise InputError(f"{key} must be a number, got {value!r}")
        else:
            kwargs[name] = type(default)(value) if isinstance(default, (int, float, str)) else value
    return dataclasses.replace(defaults, **kwargs)


def config_from_dict(d: dict, cls: type = TrainConfig, base: Any = None):
    """d -> `cls`; keys d leaves out keep base's values (default: the dataclass defaults)."""
    return _build(cls, d, "", base)


def load_config_file(path: str | Path, cls: type = TrainConfig, base: Any = None):
    """TOML (.toml) or YAML (.yaml/.yml) file -> `cls` (TrainConfig or PretrainConfig), not yet validated.

    base: the values of keys the file leaves out (samkit finetune passes its fine-tuning defaults)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise InputError(f"config file {path}: expected a .toml, .yaml or .yml file")
    except InputError:
        raise
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError
        raise InputError(f"config file {path}: cannot parse ({e})") from None
    return config_from_dict(data, cls, base)


def config_to_dict(cfg: TrainConfig) -> dict:
    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def save_config_yaml(cfg: TrainConfig, path: str | Path) -> None:
    import yaml

    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
