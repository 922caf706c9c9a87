"""optim.lr_scales: parts of the model get their own learning rate, through the schedule too."""

import pytest
import torch

from samkit.build import build_sam
from samkit.errors import InputError
from samkit.training.config import config_from_dict
from samkit.training.run_setup import build_optimizer
from samkit.training.sam2_step import Sam2ClipStep
from samkit.training.schedule import WarmupDecay, build_scheduler


def config(**optim):
    return config_from_dict({"data": {"train": ["x"]}, "optim": {"lr": 1e-3, "warmup_steps": 2, **optim},
                             "run": {"max_steps": 10}})


def test_prefixes_scale_the_rate_of_their_parameters_and_the_schedule_keeps_the_ratio():
    sam = build_sam("sam2_test_tiny")
    opt = build_optimizer(Sam2ClipStep(sam), config(lr_scales=["sam_mask_decoder=0.25", "memory_attention=0"]))
    rate = {}
    for g in opt.param_groups:
        for p in g["params"]:
            rate[id(p)] = g["lr"]
    for name, p in sam.named_parameters():
        want = 0.25e-3 if name.startswith("sam_mask_decoder") else 0.0 if name.startswith("memory_attention") else 1e-3
        assert rate[id(p)] == pytest.approx(want), name
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)  # the base rate is the one the trainer logs
    sched = build_scheduler(opt, WarmupDecay(2, 10, "cosine", 0.1, (0.85, 0.95)))
    for _ in range(3):
        opt.step()
        sched.step()
    lrs = sorted({round(g["lr"] / opt.defaults["lr"], 12) for g in opt.param_groups} - {0.0})
    base = max(g["lr"] for g in opt.param_groups)
    assert any(g["lr"] == pytest.approx(0.25 * base) for g in opt.param_groups) and lrs


def test_without_scales_the_groups_are_decay_and_no_decay_as_before():
    sam = build_sam("tiny")
    opt = build_optimizer(torch.nn.ModuleDict({"sam": sam}), config())
    assert [g["weight_decay"] > 0 for g in opt.param_groups] == [True, False]


@pytest.mark.parametrize("bad", ["sam_mask_decoder", "=0.5", "x=-1", "x=fast"])
def test_malformed_entries_are_input_errors(bad):
    with pytest.raises(InputError, match="lr_scales"):
        build_optimizer(Sam2ClipStep(build_sam("sam2_test_tiny")), config(lr_scales=[bad]))
