"""Label Studio backend pieces that need no Label Studio server: protocol parsing, labeling
configs, brush RLE (checked against label-studio-sdk's own codec when Label Studio's venv exists),
polygons, the dataset writer and the server's error reason phrase."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from samkit.errors import InputError
from samkit.integrations.label_studio.app import reason_phrase
from samkit.integrations.label_studio.brush_rle import decode_values, encode_values, mask_to_rle, rle_to_mask
from samkit.integrations.label_studio.dataset_writer import DatasetWriter
from samkit.integrations.label_studio.image_fetch import FetchedImage, LabelStudioAccess, resolve_url
from samkit.integrations.label_studio.labeling_config import parse_labeling_config
from samkit.integrations.label_studio.polygons import mask_to_polygons, polygon_to_mask
from samkit.integrations.label_studio.protocol import parse_context, parse_setup, project_id

from importlib.util import module_from_spec, spec_from_file_location  # noqa: E402
from pathlib import Path  # noqa: E402

_spec = spec_from_file_location("ls_venv_helpers", Path(__file__).with_name("ls_venv.py"))
ls_venv = module_from_spec(_spec)
_spec.loader.exec_module(ls_venv)

BRUSH_CONFIG = """<View><Image name="img" value="$image"/>
<KeyPointLabels name="kp" toName="img" smart="true"><Label value="cat" smart="true"/><Label value="dog"/></KeyPointLabels>
<BrushLabels name="brush" toName="img"><Label value="cat"/><Label value="dog"/></BrushLabels></View>"""


def _masks():
    rng = np.random.default_rng(1)
    m1 = np.zeros((37, 53), bool)
    m1[5:20, 7:40] = True
    m2 = rng.random((64, 300)) < 0.3  # many short runs and literals
    m3 = np.ones((300, 300), bool)  # runs longer than 2**16 values
    return [m1, m2, m3, np.zeros((1, 1), bool)]


@pytest.mark.parametrize("index", range(4))
def test_brush_rle_round_trip(index):
    mask = _masks()[index]
    assert np.array_equal(rle_to_mask(mask_to_rle(mask), *mask.shape), mask)


def test_rle_values_round_trip_any_bytes():
    values = np.random.default_rng(0).integers(0, 256, 5000).astype(np.uint8)
    values[1000:80000 // 20] = 7
    assert np.array_equal(decode_values(encode_values(values)), values)


def test_brush_rle_matches_label_studio_sdk(tmp_path):
    ls_venv.require_ls_venv()
    sdk = ls_venv.sdk
    masks = _masks()[:3]
    for mask in masks:  # ours -> the sdk's decoder
        np.save(tmp_path / "m.npy", mask)
        out = sdk("decode", rles=[mask_to_rle(mask)], height=mask.shape[0], width=mask.shape[1],
                  out=str(tmp_path / "d.npy"))
        assert np.array_equal(np.load(out["saved"])[0] > 0, mask)
    np.save(tmp_path / "all.npy", np.stack([np.pad(m[:37, :53], ((0, 37 - m[:37].shape[0]), (0, 53 - m[:, :53].shape[1])))
                                            for m in masks]))
    for rle, mask in zip(sdk("encode", masks=str(tmp_path / "all.npy"))["rles"], np.load(tmp_path / "all.npy")):
        assert np.array_equal(rle_to_mask(rle, 37, 53), mask)  # the sdk's encoder -> ours


def test_rle_rejects_garbage_and_wrong_size():
    with pytest.raises(InputError, match="not Label Studio RLE"):
        rle_to_mask([1, 2], 2, 2)
    with pytest.raises(InputError, match="expected 3 x 3 x 4"):
        rle_to_mask(mask_to_rle(np.ones((2, 2), bool)), 3, 3)


def test_config_brush_with_smart_keypoints():
    cfg = parse_labeling_config(BRUSH_CONFIG)
    assert (cfg.image_name, cfg.image_field, cfg.output.tag, cfg.output.name) == ("img", "image", "BrushLabels", "brush")
    assert [p.tag for p in cfg.prompts] == ["KeyPointLabels"]
    assert cfg.output_label("dog") == "dog" and cfg.output_label(None) == "cat"
    with pytest.raises(InputError, match="not a <Label> of <BrushLabels"):
        cfg.output_label("bird")


def test_config_polygon_and_errors():
    poly = BRUSH_CONFIG.replace("BrushLabels", "PolygonLabels")
    assert parse_labeling_config(poly).output.result_type == "polygonlabels"
    with pytest.raises(InputError, match="no <BrushLabels> or <PolygonLabels>"):
        parse_labeling_config('<View><Image name="i" value="$image"/><Choices name="c" toName="i">'
                              '<Choice value="a"/></Choices></View>')
    with pytest.raises(InputError, match="no <Image>"):
        parse_labeling_config('<View><Text name="t" value="$text"/></View>')
    with pytest.raises(InputError, match="not valid XML"):
        parse_labeling_config("<View><Image")


def test_context_points_negative_clicks_and_box():
    def kp(x, y, positive):
        return {"type": "keypointlabels", "original_width": 400, "original_height": 200, "is_positive": positive,
                "value": {"x": x, "y": y, "width": 1, "keypointlabels": ["dog"]}}

    rect = {"type": "rectanglelabels", "original_width": 400, "original_height": 200,
            "value": {"x": 10, "y": 20, "width": 50, "height": 25, "rectanglelabels": ["dog"]}}
    p = parse_context({"result": [kp(25, 50, True), kp(50, 10, False), rect]})
    assert np.allclose(p.points_xy, [[100, 100], [200, 20]]) and p.point_labels.tolist() == [1, 0]
    assert np.allclose(p.box_xyxy, [40, 40, 240, 90]) and p.label == "dog" and p.original_hw == (200, 400)
    assert parse_context(None) is None and parse_context({"result": []}).empty
    with pytest.raises(InputError, match="original_width"):
        parse_context({"result": [{"type": "keypointlabels", "value": {"x": 1, "y": 1}}]})


def test_setup_and_project_ids():
    s = parse_setup({"project": "12.1700000000", "schema": BRUSH_CONFIG, "hostname": "http://h:1", "access_token": "t"})
    assert (s.project_id, s.hostname, s.access_token) == ("12", "http://h:1", "t")
    assert project_id({"id": 12}) == "12"
    with pytest.raises(InputError, match="schema"):
        parse_setup({"project": "1.2"})


def test_image_urls_get_the_token_only_on_label_studio():
    access = LabelStudioAccess("http://127.0.0.1:8080", "tok")
    assert resolve_url("/data/upload/1/a.png", access) == ("http://127.0.0.1:8080/data/upload/1/a.png",
                                                           {"Authorization": "Token tok"})
    assert resolve_url("https://example.org/a.png", access) == ("https://example.org/a.png", {})
    with pytest.raises(InputError, match="s3://"):
        resolve_url("s3://bucket/a.png", access)
    with pytest.raises(InputError, match="has not sent /setup"):
        resolve_url("/data/upload/1/a.png", None)


def test_polygons_round_trip_a_rectangle():
    mask = np.zeros((100, 120), bool)
    mask[20:60, 30:90] = True
    polys = mask_to_polygons(mask)
    assert len(polys) == 1
    back = polygon_to_mask(polys[0], 100, 120)
    assert (back & mask).sum() / (back | mask).sum() > 0.95


def test_reason_phrase_is_one_latin1_line():
    assert reason_phrase("a\nb\u2192c " + "x" * 1000).startswith("a b?c")
    assert len(reason_phrase("x" * 1000)) == 480


def test_dataset_writer_stores_updates_and_reloads(tmp_path, synthetic_image):
    from PIL import Image

    from samkit.data.specs import DatasetSpec, build_dataset

    buf = io.BytesIO()
    Image.fromarray(synthetic_image).save(buf, format="PNG")
    fetched = FetchedImage(synthetic_image, buf.getvalue(), ".png")
    mask = np.zeros(synthetic_image.shape[:2], bool)
    mask[50:150, 60:200] = True
    brush = {"id": "r1", "type": "brushlabels", "original_width": 400, "original_height": 300,
             "value": {"format": "rle", "rle": mask_to_rle(mask), "brushlabels": ["cat"]}}
    poly = {"id": "r2", "type": "polygonlabels", "original_width": 400, "original_height": 300,
            "value": {"points": [[10, 10], [40, 10], [40, 40]], "polygonlabels": ["dog"]}}
    writer = DatasetWriter(tmp_path / "ds")
    task = {"id": 7, "data": {"image": "/data/upload/1/a.png"}}
    out = writer.handle({"action": "ANNOTATION_CREATED", "task": task, "annotation": {"id": 3, "result": [brush, poly]}},
                        lambda url: fetched, "image")
    assert out["stored"] == 2
    writer.handle({"action": "ANNOTATION_UPDATED", "task": task, "annotation": {"id": 3, "result": [brush]}},
                  lambda url: pytest.fail("the image is fetched once"), "image")
    coco = json.loads((tmp_path / "ds/annotations/instances_train.json").read_text())
    assert len(coco["annotations"]) == 1 and [c["name"] for c in coco["categories"]] == ["cat", "dog"]
    ds = build_dataset(DatasetSpec(str(tmp_path / "ds")))
    sample = ds[0]
    assert np.array_equal(sample.image_rgb, synthetic_image)
    assert np.array_equal(np.asarray(sample.masks)[0].astype(bool), mask)
    assert DatasetWriter(tmp_path / "ds").remove_annotations([3]) == 1  # state reloads from disk


@pytest.mark.parametrize("argv, message", [
    (["--port", "0"], "--port must be 1..65535"),
    (["--label-studio-url", "http://localhost:8080"], "go together"),
    (["--amg-points-per-side", "0"], "must be positive"),
])
def test_cli_rejects_bad_flags(argv, message, capsys):
    from samkit.cli.main import main

    assert main(["label-studio", *argv]) == 2
    assert message in capsys.readouterr().err


def test_dataset_writer_skips_annotations_without_masks(tmp_path):
    writer = DatasetWriter(tmp_path / "ds")
    box = {"id": "v1", "type": "videorectangle", "value": {"sequence": []}}
    out = writer.handle({"action": "ANNOTATION_CREATED", "task": {"id": 1, "data": {"video": "/data/upload/1/a.mp4"}},
                         "annotation": {"id": 5, "result": [box]}}, lambda url: pytest.fail("nothing to fetch"), None)
    assert out["stored"] == 0 and not (tmp_path / "ds" / "images").exists()
