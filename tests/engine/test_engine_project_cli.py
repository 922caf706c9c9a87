"""`samkit engine init/status/export/review`: a project over a folder with a broken image, bad input."""

from __future__ import annotations

import json

import pytest

from samkit.cli.main import main
from samkit.engine.project import init_project, open_project
from samkit.errors import InputError


def test_init_marks_undecodable_images_and_refuses_a_second_init(tmp_path, engine_data, tiny_ckpt, capsys):
    proj = tmp_path / "proj"
    assert main(["engine", "init", str(proj), "--images", str(engine_data / "images"), "--model", str(tiny_ckpt)]) == 0
    err = capsys.readouterr().err
    assert "broken_0.jpg does not decode" in err
    project = open_project(proj)
    images = project.store.images()
    assert len(images) == 9
    failed = [im for im in images if im.status == "failed"]
    assert [im.path for im in failed] == ["broken_0.jpg"] and failed[0].error
    ok = [im for im in images if im.status == "ok"]
    assert all((im.height, im.width) == (96, 128) for im in ok)
    assert project.image_path(ok[0].id).is_file()
    assert str(project.current_model_path()) == str(tiny_ckpt.resolve())
    assert main(["engine", "init", str(proj), "--images", str(engine_data / "images")]) == 2
    assert "already holds an engine project" in capsys.readouterr().err
    assert main(["engine", "status", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "8 ok, 1 failed to decode" in out and "no masks yet" in out
    assert main(["engine", "status", str(proj), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"]["failed"] == 1


def test_bad_input_is_one_line_and_exit_2(tmp_path, engine_data, capsys):
    assert main(["engine", "status", str(tmp_path / "nothing")]) == 2
    assert "is not an engine project" in capsys.readouterr().err
    assert main(["engine", "init", str(tmp_path / "p"), "--images", str(tmp_path / "none")]) == 2
    assert main(["engine", "init", str(tmp_path / "p"), "--images", str(engine_data / "images"),
                 "--model", "no_such.pth"]) == 2
    assert "expected 'builtin'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no images"):
        init_project(tmp_path / "p2", empty)
    assert main(["engine", "retrain", str(tmp_path / "nothing")]) == 2


def test_export_holds_out_by_path_hash(tmp_path, engine_data, tiny_ckpt):
    from samkit.automatic.rle import encode_coco_rle
    from samkit.engine.export import export_round, is_heldout

    project = init_project(tmp_path / "p", engine_data / "images", str(tiny_ckpt))
    import numpy as np

    for im in project.store.images():
        if im.status == "ok":
            m = np.zeros((im.height, im.width), bool)
            m[10:40, 10:50] = True
            project.store.add_mask(im.id, encode_coco_rle(m), stage=1, round=0, source="annotator:t")
    out = export_round(project, 1, heldout_fraction=0.3)
    train = json.loads(out["train"].read_text())
    held = json.loads(out["heldout"].read_text())
    train_names = {im["file_name"] for im in train["images"]}
    held_names = {im["file_name"] for im in held["images"]}
    assert train_names and held_names and not train_names & held_names
    assert all(is_heldout(n, 0.3) for n in held_names) and not any(is_heldout(n, 0.3) for n in train_names)
    # the same images are held out in every later round
    assert {im["file_name"] for im in json.loads(export_round(project, 2, 0.3)["heldout"].read_text())["images"]} \
        == held_names
