"""One oneDNN matmul with its bias, GELU or residual add fused, for inference on CPU.

Shared by SAM 1's ViT blocks and SAM 2's Hiera blocks. Under CPU autocast the weights are cast to the
autocast dtype once and cached (not on every call), and the residual stream can stay in that dtype.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def fused_dtype(x: torch.Tensor) -> torch.dtype | None:
    """dtype the fused CPU kernels should run in, or None to use the plain PyTorch path.

    The fused oneDNN ops have no autograd, so they are used only when no gradient is recorded.
    Under CPU autocast they run in the autocast dtype, as F.linear would.
    """
    if x.device.type != "cpu" or not _HAS_FUSED_LINEAR:
        return None
    # Graph capture (ONNX / torch.export / torch.compile) must see plain ops it can translate.
    if torch.is_grad_enabled() or torch.compiler.is_compiling() or torch.jit.is_tracing():
        return None
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
    return dtype if dtype in (torch.float32, torch.bfloat16) else None


_HAS_FUSED_LINEAR = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _weights_as(layer: nn.Module, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight, bias) of a Linear (or 1x1 Conv2d, flattened) in `dtype`, cached across calls.

    Under autocast the weights would otherwise be cast on every call; the cache key includes the
    tensors' version counters, so an in-place update (load_state_dict, an optimiser step) or a
    move to another device invalidates it.
    """
    w, b = layer.weight, layer.bias
    key = (dtype, w._version, w.data_ptr(), None if b is None else (b._version, b.data_ptr()))
    cached = layer.__dict__.get("_samkit_weights_cache")
    if cached is not None and cached[0] == key:
        return cached[1]
    w2 = w.detach().reshape(w.shape[0], -1).to(dtype).contiguous()
    b2 = None if b is None else b.detach().to(dtype)
    layer.__dict__["_samkit_weights_cache"] = (key, (w2, b2))
    return w2, b2


def fused_linear(x: torch.Tensor, layer: nn.Module, gelu: bool = False,
                 residual: torch.Tensor | None = None) -> torch.Tensor:
    """residual + act(layer(x)) for a Linear (or 1x1 Conv2d on channels-last x), ... x C_in -> ... x C_out.

    On CPU without autograd this is one oneDNN matmul with the bias, the exact (erf) GELU or the
    residual add fused: no separate bias copy, activation pass or output allocation. In fp32 it
    computes the same as F.linear (same GEMM); elsewhere it falls back to the plain ops.
    """
    dtype = fused_dtype(x)
    out_shape = (*x.shape[:-1], layer.weight.shape[0])
    # A layer with forward hooks (e.g. LoRA adapters) must run as a module so the hooks fire.
    if dtype is None or layer._forward_hooks or (residual is not None and (residual.dtype != dtype or residual.shape != out_shape
                                                   or not residual.is_contiguous())):
        if isinstance(layer, nn.Conv2d):
            w = layer.weight.reshape(layer.weight.shape[0], -1)
            y = F.linear(x, w, layer.bias)
        else:
            y = layer(x)
        if gelu:
            y = F.gelu(y)
        return y if residual is None else residual + y
    w, b = _weights_as(layer, dtype)
    x = x.to(dtype)
    if residual is not None:
        return torch.ops.mkldnn._linear_pointwise(x, residual, w, b, "add")
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu" if gelu else "none", [], "none" if gelu else "")
