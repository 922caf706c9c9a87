"""Attacks on a tiny random-weight model (gradients through samkit's encoder)."""

import numpy as np
import pytest
import torch

from samkit.build import build_sam
from samkit.evaluation.attacks import embedding_attack, image_embedding, prompt_attack, prompt_logits


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_sam("tiny").eval()


@pytest.fixture()
def model_input():
    g = torch.Generator().manual_seed(1)
    return (torch.rand(1, 3, 192, 256, generator=g) * 255).round()


def test_embedding_attack_stays_in_budget_and_distorts_more_than_noise(tiny_model, model_input):
    eps = 4 / 255
    x_adv = embedding_attack(tiny_model, model_input, eps, steps=5, seed=0)
    assert x_adv.shape == model_input.shape and not x_adv.requires_grad
    assert (x_adv - model_input).abs().max() <= eps * 255 + 1e-3
    assert x_adv.min() >= 0 and x_adv.max() <= 255
    with torch.no_grad():
        clean = image_embedding(tiny_model, model_input)
        attacked = (image_embedding(tiny_model, x_adv) - clean).pow(2).sum()
        g = torch.Generator().manual_seed(5)
        noise = ((torch.rand(model_input.shape, generator=g) * 2 - 1).sign() * eps * 255 + model_input).clamp(0, 255)
        random = (image_embedding(tiny_model, noise) - clean).pow(2).sum()
    assert attacked > 2 * random
    # The model's own weights take part in the graph but are never changed or left with grads.
    assert all(p.grad is None for p in tiny_model.parameters())


def test_attacks_are_deterministic_and_eps_zero_is_identity(tiny_model, model_input):
    a = embedding_attack(tiny_model, model_input, 2 / 255, steps=2, seed=3)
    b = embedding_attack(tiny_model, model_input, 2 / 255, steps=2, seed=3)
    assert torch.equal(a, b)
    assert torch.equal(embedding_attack(tiny_model, model_input, 0.0), model_input)


def test_prompt_attack_raises_the_prompt_loss(tiny_model, model_input):
    gt = torch.zeros(192, 256)
    gt[50:120, 60:160] = 1
    prompt = {"boxes": torch.tensor([[60.0, 50.0, 160.0, 120.0]]), "multimask_output": False}
    x_adv = prompt_attack(tiny_model, model_input, gt, (192, 256), 8 / 255, steps=4, seed=0, **prompt)
    assert (x_adv - model_input).abs().max() <= 8 + 1e-3

    def loss(x):
        with torch.no_grad():
            logits = prompt_logits(tiny_model, image_embedding(tiny_model, x), (192, 256), (192, 256), **prompt)
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, gt[None, None]).item()

    assert loss(x_adv) > loss(model_input)
