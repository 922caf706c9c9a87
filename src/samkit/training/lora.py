"""LoRA on the image encoder's attention qkv projections, kept outside the Sam module.

The adapters live in their own nn.Module and act through forward hooks on each `qkv` Linear, so
`Sam.state_dict()` keeps exactly the official keys (checkpoints stay loadable by `load_model`).
`merged_into(sam)` temporarily folds W + scale * B @ A into the weights for saving and restores
the original tensors bit for bit afterwards, so a saved run resumes exactly.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn


class LoRAAdapters(nn.Module):
    """Low-rank updates for every nn.Linear named `qkv` under `encoder`.

    delta(x) = scale * (x @ A^T) @ B^T with A: rank x in, B: out x rank, scale = alpha / rank.
    B starts at zero, so training starts from the unadapted model.
    """

    def __init__(self, encoder: nn.Module, rank: int = 8, alpha: float = 8.0):
        super().__init__()
        self.rank, self.scale = rank, alpha / rank
        self.targets: dict[str, nn.Linear] = {
            name: mod for name, mod in encoder.named_modules() if name.split(".")[-1] == "qkv" and isinstance(mod, nn.Linear)
        }
        if not self.targets:
            raise ValueError("LoRA found no attention `qkv` Linear layers in the image encoder")
        self.A = nn.ParameterDict()
        self.B = nn.ParameterDict()
        self._handles = []
        for name, lin in self.targets.items():
            key = name.replace(".", "_")
            a = torch.empty(rank, lin.in_features)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.A[key] = nn.Parameter(a)
            self.B[key] = nn.Parameter(torch.zeros(lin.out_features, rank))
            self._handles.append(lin.register_forward_hook(self._hook(key)))

    def _hook(self, key: str):
        def add_delta(module, inputs, output):
            x = inputs[0]
            return output + (x @ self.A[key].to(x.dtype).T @ self.B[key].to(x.dtype).T) * self.scale
        return add_delta

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def base_weights(self) -> dict[str, torch.Tensor]:
        return {name: lin.weight.detach().clone() for name, lin in self.targets.items()}

    def restore_base_weights(self, weights: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, lin in self.targets.items():
                lin.weight.copy_(weights[name])

    @contextlib.contextmanager
    def merged_into(self):
        """Weights hold W + delta inside the block (hooks off), the exact originals after it."""
        saved = self.base_weights()
        hooks, self._handles = self._handles, []
        for h in hooks:
            h.remove()
        try:
            with torch.no_grad():
                for name, lin in self.targets.items():
                    key = name.replace(".", "_")
                    lin.weight.add_((self.B[key] @ self.A[key]) * self.scale)
            yield
        finally:
            self.restore_base_weights(saved)
            for name in self.targets:
                self._handles.append(self.targets[name].register_forward_hook(self._hook(name.replace(".", "_"))))
