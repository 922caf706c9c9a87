"""`samkit train` / `samkit finetune` end to end, and their errors as one line with exit code 2."""

import json

import yaml

from samkit.cli.main import main


def _write_config(path, cfg):
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_resume_and_finetune(fast_config, toy_data, tmp_path, capsys):
    cfg = fast_config(max_steps=2)
    config = _write_config(tmp_path / "train.yaml", cfg)
    assert main(["train", "--config", str(config), "--optim.lr", "5e-4", "--run.val-every", "2"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and 0 <= summary["val"]["miou_box"] <= 1
    saved = yaml.safe_load((tmp_path / "run" / "checkpoints" / "step_000002" / "train_config.yaml").read_text())
    assert saved["optim"]["lr"] == 5e-4  # the flag overrode the file, and the saved config says so
    # continue the same run to step 3
    assert main(["train", "--config", str(config), "--optim.lr", "5e-4", "--run.max-steps", "3", "--resume", "auto"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 3
    model = tmp_path / "run" / "checkpoints" / "step_000003" / "model.safetensors"
    rc = main(["finetune", "--checkpoint", str(model), "--data", str(toy_data), "--run.run-dir", str(tmp_path / "ft"),
               "--run.max-steps", "1", "--run.mode", "decoder_only", "--prompts.num-point-rounds", "1",
               "--data.masks-per-image", "2", "--no-run.progress", "--run.threads", "1"])
    assert rc == 0
    assert (tmp_path / "ft" / "checkpoints" / "step_000001" / "model.safetensors").is_file()


def test_bad_inputs_are_one_line_errors(tmp_path, capsys, toy_data):
    bad = _write_config(tmp_path / "bad.yaml", {"optim": {"learning_rate": 1.0}})
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "optim.learning_rate" in err[0]
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--run.run-dir", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--data", str(toy_data), "--run.mode", "sideways"]) == 2
    assert "run.mode" in capsys.readouterr().err
    toml = tmp_path / "broken.toml"
    toml.write_text("[optim\nlr = 1")
    assert main(["train", "--config", str(toml)]) == 2
    assert "cannot parse" in capsys.readouterr().err


def test_flags_are_generated_from_the_config_dataclasses(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--optim.lr", "--run.max-steps", "--run.mode", "--prompts.num-point-rounds", "--loss.focal-weight",
                 "--data.augment.hflip-prob", "--run.progress", "--no-run.progress", "--resume"):
        assert flag in text, flag
