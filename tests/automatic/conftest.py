"""Fixtures for the automatic-mask-generation tests: twin tiny models (reference and samkit with
identical weights) whose masks are sharpened so that stability scores are not all zero."""

from __future__ import annotations

import pytest
import torch

from reference_sam import import_reference, twin_models
from samkit import get_preset


def sharpen(model: torch.nn.Module, factor: float) -> torch.nn.Module:
    """Scale the hypernetwork outputs: random-weight logits are tiny (|logit| << 1), which makes
    every stability score 0 and hides the +-1 thresholds from the comparison."""
    with torch.no_grad():
        for mlp in model.mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(factor)
            mlp.layers[-1].bias.mul_(factor)
    return model


@pytest.fixture(scope="session")
def reference_module():
    return import_reference()


@pytest.fixture(scope="session")
def tiny_twins():
    ref, ours = twin_models(get_preset("tiny"), seed=0)
    return sharpen(ref, 40.0), sharpen(ours, 40.0)


@pytest.fixture(autouse=True)
def _one_thread(request):
    """Tiny-model tensors are far too small to split across threads; on a busy CI machine the
    thread handoffs cost more than the work. vit_b-sized (slow) tests keep every thread.
    Restored afterwards for other test directories."""
    before = torch.get_num_threads()
    if request.node.get_closest_marker("slow") is None:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
