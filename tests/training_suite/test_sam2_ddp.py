"""Two gloo processes on this CPU train a SAM 2 model data-parallel (2-frame clips from a tiny
LabPics folder, corrective clicks, memory) and end with identical weights, as the SAM 1 run of
test_ddp.py does."""

import json
import socket

import torch
import torch.multiprocessing as mp

from samkit.build import load_model
from training_suite.test_sam2_finetune import sam2_config, tiny_checkpoint, write_labpics
from training_suite.toy_training import ddp_worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_train_sam2_to_identical_weights(tmp_path):
    data = write_labpics(tmp_path / "labpics", n_train=4, n_test=1)
    ck = tiny_checkpoint(tmp_path / "tiny.safetensors")
    cfg = sam2_config(data, tmp_path / "run", ck, max_steps=2, ckpt_every=0)  # 2-frame clips, 1 per rank
    mp.start_processes(ddp_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, start_method="spawn")
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["step"] == r1["step"] == 2 and r0["position"] == r1["position"] == 2 * 1 * 2
    for k in r0["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k
    # training happened: the weights moved away from the checkpoint both ranks started from
    init = load_model(checkpoint=ck).state_dict()
    assert any(not torch.equal(init[k], r0["weights"][k]) for k in init)
    # only rank 0 wrote the final checkpoint (both layouts), the metrics and the validation
    folder = tmp_path / "run" / "checkpoints" / "step_000002"
    assert (folder / "model.safetensors").is_file() and (folder / "model_sam2.pt").is_file()
    saved = load_model(checkpoint=folder / "model.safetensors").state_dict()
    assert all(torch.equal(saved[k], r0["weights"][k]) for k in saved)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]
    assert any(r["kind"] == "val" and 0 <= r["miou_box"] <= 1 for r in records)
