"""Hydra override strings <-> Sam2Config, for drop-in compatibility with sam2.build_sam.

samkit has no hydra: a `Sam2Config` field path is the YAML key path, so
"++model.image_encoder.trunk.stages=[1,2,7,2]" is parsed here into
`Sam2Config.image_encoder.trunk.stages = (1, 2, 7, 2)` (`apply_hydra_overrides`), and any
config can be written back as overrides that make the reference build the same module tree
(`to_hydra_overrides`, used by the tests to build twin models).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import replace
from typing import Any, Iterable, Sequence

from samkit.config_sam2 import SAM2_PRESETS, Sam2Config, _dataclass_of
from samkit.errors import InputError

# The reference config every Sam2Config's overrides are applied on top of, and its samkit preset.
REFERENCE_BASE_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
REFERENCE_BASE_PRESET = "sam2.1_hiera_t"


def _format(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(_format(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_hydra_overrides(config: Sam2Config, complete: bool = False) -> list[str]:
    """Overrides that turn REFERENCE_BASE_CONFIG into exactly `config` in the reference sam2.

    Only the fields that differ from that base (the sam2.1_hiera_t preset, which equals its YAML)
    are written, e.g. ["++model.image_size=256", "++model.image_encoder.trunk.embed_dim=16", ...];
    complete=True writes every leaf. Fewer overrides matter: hydra hands list values to the
    reference classes as ListConfig, which e.g. nn.MaxPool2d (Hiera's q_stride) does not accept.
    """
    out: list[str] = []

    def walk(obj: Any, base: Any, path: str) -> None:
        """Write obj's leaves that differ from base's (all of them when base is None)."""
        for f in dataclasses.fields(obj):
            if path == "model" and f.name == "name":
                continue
            value = getattr(obj, f.name)
            base_value = None if base is None else getattr(base, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, base_value, f"{path}.{f.name}")  # base_value None: a group the base lacks
            elif base is None or value != base_value:
                out.append(f"++{path}.{f.name}={_format(value)}")

    base_cfg = None if complete else SAM2_PRESETS[REFERENCE_BASE_PRESET]
    walk(config, base_cfg, "model")
    return out


def _parse_value(text: str) -> Any:
    """A hydra override value: true/false, null, ints, floats, flat [a,b] lists, else a string."""
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        return [] if not inner else [_parse_value(part) for part in inner.split(",")]
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none", "~"):
        return None
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """`value` as the field type `tp` (bool, int, float, str, tuple[int, ...], Optional[...])."""
    args = typing.get_args(tp)
    if value is None:
        if type(None) in args:
            return None
        raise InputError(f"override {key}: null is not allowed for this field")
    if type(None) in args:  # Optional[X]
        tp = next(a for a in args if a is not type(None))
        args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is tuple:
        if not isinstance(value, list):
            raise InputError(f"override {key}: expected a list like [1,2], got {value!r}")
        return tuple(_coerce(v, args[0], key) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise InputError(f"override {key}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def _set(obj: Any, path: Sequence[str], value_text: str, key: str) -> Any:
    """A copy of dataclass `obj` with the field at `path` set from its override text."""
    hints = typing.get_type_hints(type(obj))
    name = path[0]
    if name not in hints or name == "name" and isinstance(obj, Sam2Config):
        where = type(obj).__name__
        raise InputError(f"override {key}: {where} has no field {name!r} (known: {sorted(hints)})")
    sub = _dataclass_of(hints[name])
    if len(path) == 1:
        if sub is not None and _parse_value(value_text) is not None:
            raise InputError(f"override {key}: {name} is a group of settings; set its fields one by one")
        return replace(obj, **{name: _coerce(_parse_value(value_text), hints[name], key)})
    if sub is None:
        raise InputError(f"override {key}: {name} is a single value and has no field {path[1]!r}")
    current = getattr(obj, name)
    if current is None:  # e.g. sam_mask_decoder_extra_args, None until first set
        current = sub()
    return replace(obj, **{name: _set(current, path[1:], value_text, key)})


def apply_hydra_overrides(config: Sam2Config, overrides: Iterable[str]) -> Sam2Config:
    """`config` with hydra-style overrides applied, in order.

    Accepted: "++model.a.b=v", "+model.a.b=v", "model.a.b=v" where a.b is a Sam2Config field path
    (the YAML key path). Refused with an InputError: deletions ("~model..."), "_target_" changes
    (other classes; the video predictor comes with the video issue), keys outside "model.",
    and unknown fields.
    """
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise InputError(f"hydra override {item!r} is not of the form '++model.<field>=<value>'")
        key, value_text = item.split("=", 1)
        key = key.strip()
        if key.startswith("~"):
            raise InputError(f"hydra override {item!r}: deleting keys is not supported by samkit")
        key = key.lstrip("+")
        parts = key.split(".")
        if parts[0] != "model" or len(parts) < 2:
            raise InputError(f"hydra override {item!r}: samkit only understands 'model.<field>' keys")
        if "_target_" in parts:
            raise InputError(f"hydra override {item!r}: samkit builds its own classes and cannot swap "
                             f"'_target_' (SAM2VideoPredictor arrives with samkit's video support)")
        config = _set(config, parts[1:], value_text, item)
    return config
