"""Reading a user's JSON file: any failure (unreadable, not UTF-8, not JSON, nested too deep) is an
InputError that names the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samkit.errors import InputError


def read_json(path: str | Path, what: str = "a JSON file") -> Any:
    """The parsed content of `path`; what: what the file should be, for the message."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"{path}: not valid JSON, so not {what} ({str(e)[:200]})") from None
