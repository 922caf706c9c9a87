"""Command-line flags generated from config dataclasses.

Every scalar or tuple field of a (nested) dataclass becomes a flag named by its path:
TrainConfig.optim.lr -> --optim.lr, TrainConfig.run.max_steps -> --run.max-steps. Flags default
to "not given", so only what the user typed overrides the config file; booleans get --x/--no-x.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from samkit.errors import InputError

_PREFIX = "cfg__"


def _fields(cls: type, prefix: tuple[str, ...] = ()):
    default = cls()
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name)
        path = prefix + (f.name,)
        if dataclasses.is_dataclass(value):
            yield from _fields(type(value), path)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            continue  # lists of tables (datasets) come from the config file or dedicated flags
        elif isinstance(value, tuple) and not value:
            continue
        else:
            yield path, value


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, skip: set[str] = frozenset()) -> None:
    """Add one flag per leaf field of `cls` (defaults shown in help; None means not given)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for path, default in _fields(cls):
        dotted = ".".join(path)
        if dotted in skip:
            continue
        group = groups.setdefault(path[0], parser.add_argument_group(f"config [{path[0]}]"))
        flag = "--" + ".".join(p.replace("_", "-") for p in path)
        dest = _PREFIX + "__".join(path)
        help_text = f"(default: {default!r})"
        if isinstance(default, bool):
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(default, tuple):
            elem = type(default[0])
            group.add_argument(flag, dest=dest, type=elem, nargs="+", default=None, metavar="V", help=help_text)
        else:
            group.add_argument(flag, dest=dest, type=type(default), default=None, metavar=type(default).__name__.upper(),
                               help=help_text)


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags the user gave, as a nested dict ({"optim": {"lr": 1e-3}})."""
    out: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if not dest.startswith(_PREFIX) or value is None:
            continue
        node = out
        path = dest[len(_PREFIX):].split("__")
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = list(value) if isinstance(value, list) else value
    return out


def merge_into(base: Any, overrides: dict[str, Any], where: str = "") -> Any:
    """A copy of dataclass `base` with nested `overrides` applied (unknown keys are errors)."""
    names = {f.name for f in dataclasses.fields(base)}
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise InputError(f"unknown config key {where + key}")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = merge_into(current, value, f"{where}{key}.")
        else:
            changes[key] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(base, **changes)
