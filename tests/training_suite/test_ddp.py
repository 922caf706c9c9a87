"""Two gloo processes on this CPU train data-parallel and end with identical weights."""

import os
import socket

import torch
import torch.multiprocessing as mp

from training_suite.toy_training import ddp_worker, fast_config_dict, write_toy_dataset


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    data = write_toy_dataset(tmp_path / "toy", n_images=6)
    cfg = fast_config_dict(data, tmp_path / "run", max_steps=2, ckpt_every=0)
    cfg["data"]["val_fraction"] = 0.0
    mp.start_processes(ddp_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, start_method="spawn")
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["step"] == r1["step"] == 2 and r0["position"] == r1["position"] == 2 * 2 * 2
    for k in r0["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k
    # training happened: the weights moved away from the shared random init
    from samkit.training import config_from_dict
    from samkit.training.session import initial_model

    init = initial_model(config_from_dict(cfg)).state_dict()
    assert any(not torch.equal(init[k], r0["weights"][k]) for k in init)
    # only rank 0 wrote the final checkpoint
    assert (tmp_path / "run" / "checkpoints" / "step_000002" / "model.safetensors").is_file()
