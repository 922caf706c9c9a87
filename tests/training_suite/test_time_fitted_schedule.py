"""run.fit_schedule_to_time: the run's length and the lr schedule follow the measured step rate."""

from types import SimpleNamespace

import pytest
import torch

from samkit.errors import InputError
from samkit.training import config_from_dict, run_training
from samkit.training import hooks as hooks_mod
from samkit.training.distributed import DistInfo
from samkit.training.hooks import TimeFittedScheduleHook
from samkit.training.schedule import WarmupDecay, build_scheduler


def test_schedule_length_follows_the_measured_rate(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(hooks_mod.time, "time", lambda: clock[0])
    fn = WarmupDecay(warmup_steps=5, max_steps=10_000, min_ratio=0.05)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    t = SimpleNamespace(step=0, max_steps=10_000, start_time=1000.0, scheduler=build_scheduler(opt, fn),
                        dist=DistInfo())
    hook = TimeFittedScheduleHook(max_minutes=10, measure_from=20, refit_every=25)

    def run_steps(n, seconds_each):
        for _ in range(n):
            clock[0] += seconds_each
            t.step += 1
            hook.after_step(t)

    run_steps(20, 3.0)  # slow warm-up steps (loader start, first kernels) are not measured
    assert t.max_steps == 10_000
    run_steps(25, 0.5)  # then 2 steps a second: 600 s - 60 s - 12.5 s left = 1055 steps more
    assert t.max_steps == 45 + int((600 - 72.5) * 2)
    assert fn.max_steps == t.max_steps
    run_steps(25, 1.0)  # slower from here: the rate is the mean since the mark, 50 steps in 37.5 s
    rate = 50 / 37.5
    assert t.max_steps == 70 + int((600 - 97.5) * rate)
    assert fn(t.max_steps) == pytest.approx(0.05)  # the cosine ends at the fitted length


def test_time_fitted_run_ends_on_its_own_schedule(fast_config):
    d = fast_config(max_steps=100_000, max_minutes=0.15, fit_schedule_to_time=True)
    d["optim"]["warmup_steps"] = 1
    out = run_training(config_from_dict(d))
    t = out["trainer"]
    # The length was fitted to the 9 s (the configured 100,000 steps would take hours) ...
    assert t.max_steps < 100_000 and out["step"] >= 20
    # ... and the cosine ran past its middle instead of being cut off near the peak (a loose bound:
    # the last refit's rate estimate on a busy CI machine decides how close to lr x min_lr_ratio it ends).
    lr = t.optimizer.param_groups[0]["lr"]
    assert lr < 0.5 * d["optim"]["lr"]


def test_fitting_needs_a_time_budget(fast_config):
    with pytest.raises(InputError, match="max_minutes"):
        run_training(config_from_dict(fast_config(fit_schedule_to_time=True)))
