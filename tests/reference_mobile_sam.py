"""Import MobileSAM's official code (PyPI `mobilesam-mirror`, module `mobile_sam`) in tests and benchmarks.

`mobile_sam.modeling.tiny_vit_sam` imports four names from timm, and its predictor/AMG import
torchvision; neither installs here (timm needs torchvision, which has no working CPU build). Before
importing it we install minimal stand-ins, written independently of samkit and of timm:
- `DropPath`: per-sample stochastic depth (identity in eval mode, which is all the parity tests use);
- `to_2tuple`: an int becomes (int, int), an iterable stays as it is;
- `trunc_normal_`: torch's own truncated-normal initialiser (cut at +-2 absolute, as timm's is);
- `register_model`: returns the function unchanged (we never look models up by name);
plus the torchvision stand-in of tests/reference_sam.py. Used only by tests/ and benchmarks/.
"""

from __future__ import annotations

import collections.abc
import sys
import types

import torch
from torch import nn

from reference_sam import install_torchvision_stub


class _DropPath(nn.Module):
    """Drop whole residual branches per sample with probability drop_prob while training."""

    def __init__(self, drop_prob: float | None = 0.0, scale_by_keep: bool = True) -> None:
        super().__init__()
        self.drop_prob = float(drop_prob or 0.0)
        self.scale_by_keep = scale_by_keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * (mask / keep if self.scale_by_keep else mask)


def _to_2tuple(x):
    if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
        return tuple(x)
    return (x, x)


def _trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0):
    return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)


def _register_model(fn):
    return fn


def install_timm_stub() -> None:
    """Put `timm.models.layers` and `timm.models.registry` stand-ins into sys.modules (idempotent)."""
    if "timm" in sys.modules and not getattr(sys.modules["timm"], "_samkit_stub", False):
        return  # a real timm is importable; leave it alone
    timm = types.ModuleType("timm")
    timm._samkit_stub = True
    models = types.ModuleType("timm.models")
    layers = types.ModuleType("timm.models.layers")
    layers.DropPath = _DropPath
    layers.to_2tuple = _to_2tuple
    layers.trunc_normal_ = _trunc_normal_
    registry = types.ModuleType("timm.models.registry")
    registry.register_model = _register_model
    models.layers, models.registry = layers, registry
    timm.models = models
    sys.modules.update(
        {"timm": timm, "timm.models": models, "timm.models.layers": layers, "timm.models.registry": registry}
    )


def import_mobile_sam():
    """Return the `mobile_sam` module, importable on this CPU-only, timm-less machine."""
    install_torchvision_stub()
    install_timm_stub()
    import mobile_sam

    return mobile_sam


def build_reference_vit_t():
    """MobileSAM's official vit_t Sam (random init, eval mode)."""
    return import_mobile_sam().build_sam_vit_t()


def randomize_state_dict(state: dict[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """A copy of `state` where every float tensor carries information, so parity covers all of it.

    Fresh inits leave BatchNorm at identity statistics, attention biases and most biases at zero and
    MBConv's last BN weight at 0 (branch switched off): a bug in any of those would go unseen. The
    new values keep activations sane (variances in [0.5, 1.5], weights near their init scale).
    """
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, t in state.items():
        if not t.is_floating_point():
            out[name] = t.clone()
            continue
        u = torch.rand(t.shape, generator=g)
        n = torch.randn(t.shape, generator=g)
        if name.endswith(("running_var", "bn.weight")):
            new = 0.5 + u
        elif name.endswith(("running_mean", "bn.bias")):
            new = 0.2 * n
        elif name.endswith("attention_biases"):
            new = n
        elif torch.count_nonzero(t) == 0:
            new = 0.02 * n
        else:
            new = t + 0.1 * t.float().std().clamp_min(1e-3) * n
        out[name] = new.to(t.dtype)
    return out
