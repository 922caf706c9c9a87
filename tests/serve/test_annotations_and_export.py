"""Annotations round trip and persistence, COCO JSON and masks.zip exports, the served decoder."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode()}


def _masks(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((h, w), bool)
    a[10:40, 20:70] = True
    b = np.zeros((h, w), bool)
    b[50:, :30] = True
    return a, b


def _image_id(client, name: str) -> str:
    return next(im["id"] for im in client.get("/api/images").json() if im["file_name"] == name)


def test_round_trip_update_delete_and_persistence(make_client, image_folder):
    client = make_client(image_folder)
    image_id = _image_id(client, "plain.png")
    a, b = _masks(120, 160)
    body = [
        {"category": "cat", "segmentation": _rle(a), "bbox": [0, 0, 1, 1], "area": 3, "predicted_iou": 0.91},
        {"category": "dog", "segmentation": _rle(b), "predicted_iou": None},
    ]
    saved = client.put(f"/api/images/{image_id}/annotations", json=body)
    assert saved.status_code == 200, saved.text
    saved = saved.json()
    assert [s["category"] for s in saved] == ["cat", "dog"] and all(isinstance(s["id"], int) for s in saved)
    assert saved[0]["area"] == int(a.sum()) and saved[0]["bbox"] == [20.0, 10.0, 50.0, 30.0]  # recomputed
    assert saved[0]["predicted_iou"] == pytest.approx(0.91) and saved[0]["created"].endswith("+00:00")
    got = client.get(f"/api/images/{image_id}/annotations").json()
    assert got["image"]["num_annotations"] == 2 and got["annotations"] == saved
    decoded = mask_utils.decode({"size": [120, 160], "counts": got["annotations"][1]["segmentation"]["counts"]})
    assert (decoded.astype(bool) == b).all()

    # Relabel the first, drop the second, add a third: ids of kept objects do not change.
    relabel = dict(saved[0], category="lion")
    third = {"category": "cat", "segmentation": _rle(b & ~a)}
    saved2 = client.put(f"/api/images/{image_id}/annotations", json=[relabel, third]).json()
    assert saved2[0]["id"] == saved[0]["id"] and saved2[0]["category"] == "lion"
    assert saved2[0]["created"] == saved[0]["created"]
    assert saved2[1]["id"] not in (saved[0]["id"], saved[1]["id"])

    # A new server on the same folder (a restart) finds everything.
    client2 = make_client(image_folder)
    assert client2.get(f"/api/images/{image_id}/annotations").json()["annotations"] == saved2
    assert {im["file_name"]: im["num_annotations"] for im in client2.get("/api/images").json()}["plain.png"] == 2


def test_bad_annotations_are_rejected_and_nothing_changes(make_client, image_folder):
    client = make_client(image_folder)
    image_id = _image_id(client, "plain.png")
    a, _ = _masks(120, 160)
    good = {"category": "cat", "segmentation": _rle(a)}
    assert client.put(f"/api/images/{image_id}/annotations", json=[good]).status_code == 200
    wrong_size = {"category": "cat", "segmentation": _rle(np.zeros((10, 10), bool))}
    short_rle = {"category": "cat", "segmentation": {"size": [120, 160], "counts": _rle(a[:60])["counts"]}}
    garbage = {"category": "cat", "segmentation": {"size": [120, 160], "counts": "\x01\x02"}}
    no_category = {"category": " ", "segmentation": _rle(a)}
    for bad in (wrong_size, short_rle, garbage, no_category):
        r = client.put(f"/api/images/{image_id}/annotations", json=[good, bad])
        assert r.status_code == 422, (bad, r.text)
        assert "annotation rejected" in r.json()["detail"]
    assert client.put(f"/api/images/{image_id}/annotations", json={"nope": 1}).status_code == 422
    assert len(client.get(f"/api/images/{image_id}/annotations").json()["annotations"]) == 1
    assert client.put("/api/images/777/annotations", json=[]).status_code == 404


def _annotate_both(client) -> dict[str, list[np.ndarray]]:
    masks = {}
    for name, (h, w) in (("plain.png", (120, 160)), ("sub/rotated.jpg", (90, 200))):
        a, b = _masks(h, w)
        body = [{"category": "cat", "segmentation": _rle(a)}, {"category": "red car", "segmentation": _rle(b)}]
        assert client.put(f"/api/images/{_image_id(client, name)}/annotations", json=body).status_code == 200
        masks[name] = [a, b]
    return masks


def test_coco_export_loads_in_pycocotools(make_client, image_folder, tmp_path):
    client = make_client(image_folder)
    masks = _annotate_both(client)
    r = client.get("/api/export/coco")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    path = tmp_path / "coco.json"
    path.write_text(r.text)
    coco = COCO(str(path))
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == ["cat", "red car"]
    assert len(coco.getAnnIds()) == 4
    for img in coco.loadImgs(coco.getImgIds()):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert (img["height"], img["width"]) == masks[img["file_name"]][0].shape
        for ann, want in zip(sorted(anns, key=lambda a: a["id"]), masks[img["file_name"]]):
            assert (coco.annToMask(ann).astype(bool) == want).all()
            assert ann["area"] == int(want.sum()) and ann["iscrowd"] == 0


def test_masks_zip(make_client, image_folder):
    client = make_client(image_folder)
    masks = _annotate_both(client)
    r = client.get("/api/export/masks.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = sorted(zf.namelist())
    assert "annotations.json" in names and len(names) == 5
    coco = json.loads(zf.read("annotations.json"))
    for ann in coco["annotations"]:
        image = next(im for im in coco["images"] if im["id"] == ann["image_id"])
        stem = image["file_name"].rsplit(".", 1)[0].replace("/", "__")
        category = next(c["name"] for c in coco["categories"] if c["id"] == ann["category_id"])
        png = Image.open(io.BytesIO(zf.read(f"{stem}/{ann['id']}_{category.replace(' ', '_')}.png")))
        index = 0 if category == "cat" else 1
        assert (np.asarray(png) == 255).tolist() == masks[image["file_name"]][index].tolist()


def test_served_decoder_is_exported_once_and_runs(make_client, image_folder):
    """The real export path (tiny model): official names, cached in .samkit/models for the next start."""
    from samkit.export.parity import onnx_session

    client = make_client(image_folder, export_decoder_on_start=True)
    r = client.get("/models/decoder.onnx")
    assert r.status_code == 200 and len(r.content) > 100_000
    models = list((image_folder / ".samkit" / "models").glob("decoder-*.onnx"))
    assert len(models) == 1
    session = onnx_session(models[0])
    assert [i.name for i in session.get_inputs()][:2] == ["image_embeddings", "point_coords"]
    assert client.get("/api/model").json()["decoder_ready"] is True
    client2 = make_client(image_folder)
    assert client2.get("/api/model").json()["decoder_ready"] is True  # reused, not re-exported
    assert client2.get("/models/decoder.onnx").content == r.content


def test_page_path_matches_the_predictor(make_client, image_folder, tiny_model, wait_ready, tmp_path):
    """What the page computes (float16 embedding from the server + served ONNX decoder, coordinates
    scaled as the contract says) gives the masks SamPredictor gives in PyTorch for the same click."""
    from samkit.export.parity import onnx_session
    from samkit.image_io import load_image
    from samkit.inference.predictor import SamPredictor

    client = make_client(image_folder, export_decoder_on_start=True)
    image_id = _image_id(client, "sub/rotated.jpg")  # 90 x 200 (H x W) after EXIF rotation
    client.post(f"/api/images/{image_id}/embedding")
    wait_ready(client, image_id)
    r = client.get(f"/api/images/{image_id}/embedding")
    shape = [int(v) for v in r.headers["x-embedding-shape"].split(",")]
    embedding = np.frombuffer(r.content, dtype="<f2").astype(np.float32).reshape(shape)
    info = client.get("/api/model").json()
    decoder = tmp_path / "as_downloaded.onnx"
    decoder.write_bytes(client.get(info["decoder_url"]).content)
    session = onnx_session(decoder)
    h, w = 90, 200
    click_xy = np.array([[150.0, 30.0]])
    scale = info["img_size"] / max(h, w)
    feed = {
        "image_embeddings": embedding,
        "point_coords": np.array([[*(click_xy * scale), (0.0, 0.0)]], np.float32),
        "point_labels": np.array([[1.0, -1.0]], np.float32),
        "mask_input": np.zeros((1, 1, *info["low_res_hw"]), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.array([h, w], np.float32),
    }
    masks, iou = session.run(["masks", "iou_predictions"], feed)
    predictor = SamPredictor(tiny_model)
    predictor.set_image(load_image(image_folder / "sub" / "rotated.jpg"))
    want, want_iou, _ = predictor.predict(click_xy, np.array([1]), multimask_output=True, return_logits=True)
    assert masks.shape == (1, 4, h, w)
    # float16 embeddings move logits a little; the masks must agree almost everywhere.
    np.testing.assert_allclose(iou[0, 1:], want_iou, atol=2e-2)
    agree = ((masks[0, 1:] > 0) == (want > 0)).mean()
    assert agree > 0.99, agree


def test_provided_decoder_file(make_client, image_folder, tmp_path):
    fake = tmp_path / "given.onnx"
    fake.write_bytes(b"onnx bytes")
    client = make_client(image_folder, decoder_onnx=fake)
    assert client.get("/models/decoder.onnx").content == b"onnx bytes"


def test_deleted_image_keeps_annotations_out_of_exports(make_client, image_folder, tmp_path):
    client = make_client(image_folder)
    _annotate_both(client)
    rotated_id = _image_id(client, "sub/rotated.jpg")
    shutil.move(image_folder / "sub" / "rotated.jpg", tmp_path / "moved.jpg")
    coco = client.get("/api/export/coco").json()
    assert [im["file_name"] for im in coco["images"]] == ["plain.png"] and len(coco["annotations"]) == 2
    gone = client.get(f"/api/images/{rotated_id}/annotations")
    assert gone.status_code == 404 and "no longer in the folder" in gone.json()["detail"]
    # Nothing was deleted: when the file comes back, so do its annotations (same id).
    shutil.move(tmp_path / "moved.jpg", image_folder / "sub" / "rotated.jpg")
    back = client.get(f"/api/images/{rotated_id}/annotations").json()
    assert len(back["annotations"]) == 2 and back["image"]["file_name"] == "sub/rotated.jpg"
