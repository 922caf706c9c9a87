"""`samkit eval` end to end on datasets the tests write, and on ../shared/data when present."""

import json

import pytest

import samkit.cli.main as cli_main
from samkit.cli.main import main


@pytest.fixture(autouse=True)
def _only_eval_subcommand(monkeypatch):
    # Parse with this branch's subcommand only: other subcommands are tested (and may land) elsewhere.
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", ("eval",))


def run_eval(tmp_path, *argv, out="out"):
    out_dir = tmp_path / out
    code = main(["eval", "--out", str(out_dir), *map(str, argv)])
    return code, out_dir


def test_clicks_two_models_json_table_plot_and_determinism(tmp_path, tiny_coco):
    args = ["--model", "grabcut", "--model", "tiny", "--data", tiny_coco, "--protocol", "clicks",
            "--max-clicks", "3", "--max-images", "2", "--max-objects", "1", "--seed", "1"]
    code, out = run_eval(tmp_path, *args)
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["models"]) == {"GrabCut", "tiny (random weights)"} and res["num_items"] == 2
    gc = res["models"]["GrabCut"]["summary"]["all"]
    assert gc["count"] == 2 and len(gc["miou_score"]) == 3 and gc["miou_score"][0] > 0.8
    md = (out / "results.md").read_text()
    assert "| GrabCut | 2 | all |" in md and "tiny (random weights)" in md and "miou_vs_clicks.png" in md
    assert (out / "miou_vs_clicks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out2 = run_eval(tmp_path, *args, out="again")
    assert code == 0
    again = json.loads((out2 / "results.json").read_text())
    assert again["models"] == res["models"]


def test_box_protocol_on_davis_frames(tmp_path, tiny_davis):
    code, out = run_eval(tmp_path, "--model", "gc=grabcut", "--data", tiny_davis, "--protocol", "box",
                         "--frame-stride", "2")
    assert code == 0
    s = json.loads((out / "results.json").read_text())["models"]["gc"]["summary"]
    assert s["all"]["count"] == 4 and s["all"]["miou_gt_box"] > 0.8
    assert "mIoU (noisy box)" in (out / "results.md").read_text()


def test_video_protocol_has_the_zero_motion_row(tmp_path, tiny_davis):
    code, out = run_eval(tmp_path, "--model", "grabcut", "--data", tiny_davis, "--protocol", "video")
    assert code == 0
    models = json.loads((out / "results.json").read_text())["models"]
    still = models["copy first mask (zero motion)"]["summary"]["per_sequence"]["still"]
    assert still["J&F"] == 1.0
    assert models["GrabCut"]["summary"]["mean"]["J&F"] > 0.5


def test_attack_protocol_on_tiny_model(tmp_path, tiny_coco):
    code, out = run_eval(tmp_path, "--model", "tiny", "--model", "grabcut", "--data", tiny_coco,
                         "--protocol", "attack", "--max-images", "1", "--max-objects", "1", "--budgets", "2,8",
                         "--attack-steps", "1")
    assert code == 0
    models = json.loads((out / "results.json").read_text())["models"]
    s = models["tiny (random weights)"]["summary"]
    assert s["count"] == 1 and set(s["embedding"]) == {"2/255", "8/255"} and s["prompt"]["8/255"]["count"] == 1
    assert "skipped" in models["GrabCut"]
    assert (out / "attack_budgets.png").is_file() and list(out.glob("attack_example_*.png"))


def test_amg_protocol_when_the_generator_exists(tmp_path, tiny_coco):
    pytest.importorskip("samkit.automatic", reason="samkit.automatic not merged yet")
    from samkit import automatic

    if not hasattr(automatic, "SamAutomaticMaskGenerator"):
        pytest.skip("samkit.automatic has no SamAutomaticMaskGenerator yet")
    code, out = run_eval(tmp_path, "--model", "tiny", "--data", tiny_coco, "--protocol", "amg", "--max-images", "1",
                         "--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
                         "--box-nms-thresh", "1.0", "--max-proposals", "10,100")
    assert code == 0
    s = json.loads((out / "results.json").read_text())["models"]["tiny (random weights)"]["summary"]
    assert s["num_gt"]["all"] == 2 and 0 <= s["AR@100"]["all"] <= 1 and s["proposals_per_image"] > 0


@pytest.mark.parametrize("argv, message", [
    (["--model", "grabcut", "--data", "/nonexistent/x", "--protocol", "clicks"], "dataset not found"),
    (["--model", "vit_q", "--data", "DATA", "--protocol", "clicks"], "unknown preset"),
    (["--model", "a=grabcut", "--model", "a=tiny", "--data", "DATA", "--protocol", "box"], "labelled"),
    (["--model", "grabcut", "--data", "DATA", "--protocol", "video"], "DAVIS"),
    (["--model", "grabcut", "--data", "DATA", "--protocol", "clicks", "--max-clicks", "0"], "max-clicks"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, tiny_coco, capsys, argv, message):
    argv = [str(tiny_coco) if a == "DATA" else a for a in argv]
    code, _ = run_eval(tmp_path, *argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_never_overwrites_results_silently(tmp_path, tiny_davis, capsys):
    args = ["--model", "grabcut", "--data", tiny_davis, "--protocol", "box", "--max-images", "1"]
    assert run_eval(tmp_path, *args)[0] == 0
    before = (tmp_path / "out" / "results.json").read_text()
    assert run_eval(tmp_path, *args, "--seed", "5")[0] == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "out" / "results.json").read_text() == before
    assert run_eval(tmp_path, *args, "--seed", "5", "--overwrite")[0] == 0


@pytest.mark.data
def test_eval_on_shared_coco_and_davis(tmp_path, shared_data):
    code, out = run_eval(tmp_path, "--model", "grabcut", "--data", shared_data / "coco", "--protocol", "clicks",
                         "--max-images", "1", "--max-objects", "2", "--max-clicks", "3", out="coco")
    assert code == 0
    assert json.loads((out / "results.json").read_text())["models"]["GrabCut"]["summary"]["all"]["count"] == 2
    code, out = run_eval(tmp_path, "--model", "grabcut", "--data", shared_data / "davis2016", "--protocol", "video",
                         "--sequences", "blackswan", "--max-frames", "3", out="davis")
    assert code == 0
    j = json.loads((out / "results.json").read_text())["models"]["GrabCut"]["summary"]["mean"]["J&F"]
    assert 0 <= j <= 1


def test_include_adds_an_earlier_run_to_table_and_plot(tmp_path, tiny_davis, capsys):
    common = ["--data", tiny_davis, "--protocol", "clicks", "--max-clicks", "2", "--max-images", "2"]
    assert run_eval(tmp_path, "--model", "gc=grabcut", *common, out="first")[0] == 0
    first = tmp_path / "first" / "results.json"
    code, out = run_eval(tmp_path, "--model", "gc2=grabcut", *common, "--include", first, out="both")
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert list(res["models"]) == ["gc2", "gc"] and res["models"]["gc"]["included_from"] == str(first)
    assert res["models"]["gc"]["summary"] == res["models"]["gc2"]["summary"]  # deterministic
    assert "| gc | 2 | all |" in (out / "results.md").read_text()
    code, _ = run_eval(tmp_path, "--model", "gc3=grabcut", *common, "--seed", "7", "--include", first, out="bad")
    assert code == 2 and "seed differs" in capsys.readouterr().err
    code, _ = run_eval(tmp_path, "--model", "gc=grabcut", *common, "--include", first, out="clash")
    assert code == 2 and "both computed and included" in capsys.readouterr().err


def test_attack_reports_embedding_change_against_random_noise(tmp_path, tiny_coco):
    code, out = run_eval(tmp_path, "--model", "tiny", "--data", tiny_coco, "--protocol", "attack", "--max-images", "1",
                         "--max-objects", "1", "--budgets", "8", "--attack-steps", "3", "--prompt-attack-objects", "0")
    assert code == 0
    e = json.loads((out / "results.json").read_text())["models"]["tiny (random weights)"]["summary"]["embedding"]
    change = e["8/255"]["embedding_change"]
    assert change["attack"] > change["random"] > 0
    assert "noise" in (out / "results.md").read_text()
