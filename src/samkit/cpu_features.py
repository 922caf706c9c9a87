"""What this CPU can do fast: its model name and the instruction-set flags the fast paths depend on.

Read once from /proc/cpuinfo (Linux) and cached. Other systems report no flags, so every choice
made from them falls back to the portable path.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

# Flags that decide the CPU paths: AMX tiles (Intel Sapphire Rapids+) make bf16/int8 matmuls and the
# flash-attention kernel fast; AVX-512 bf16 (also AMD Zen 4+) makes bf16 worthwhile without AMX.
KEY_FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


@dataclass(frozen=True)
class CpuFeatures:
    model_name: str
    flags: frozenset[str]

    @property
    def has_amx(self) -> bool:
        return "amx_bf16" in self.flags

    @property
    def has_fast_bf16(self) -> bool:
        return "amx_bf16" in self.flags or "avx512_bf16" in self.flags

    @property
    def kind(self) -> str:
        """A short name for the kind of CPU, as the benchmark tables and the path cache key it."""
        if self.has_amx:
            return "amx"
        if "avx512_bf16" in self.flags:
            return "avx512_bf16"
        if "avx512f" in self.flags:
            return "avx512"
        return "avx2" if "avx2" in self.flags else "generic"

    def describe(self) -> str:
        shown = " ".join(f for f in KEY_FLAGS if f in self.flags) or "none of " + "/".join(KEY_FLAGS)
        return f"{self.model_name} (flags: {shown})"


@functools.lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return CpuFeatures(platform.processor() or platform.machine() or "unknown CPU", frozenset())
    model, flags = "unknown CPU", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return CpuFeatures(model, flags)
