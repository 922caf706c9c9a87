"""Every dataset reader given generated broken JSON either works or raises InputError (hypothesis).

Each reader gets a small valid dataset on disk; every example rewrites its JSON with 1-3 mutations
(wrong types, missing keys, NaN, huge numbers, truncation, binary garbage: json_mutations.py) and
then builds the dataset and loads every record. Anything but InputError fails the test. The number
of examples per reader is FUZZ_EXAMPLES (1,000 by default; SAMKIT_FUZZ_EXAMPLES overrides it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from PIL import Image
from pycocotools import mask as mask_utils

from robustness.json_mutations import broken_json
from samkit.errors import InputError

FUZZ_EXAMPLES = int(os.environ.get("SAMKIT_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
H, W = 12, 16


@pytest.fixture(autouse=True)
def _quiet_issue_logs():
    """Skipped annotations are logged as warnings: thousands of them here."""
    logger = logging.getLogger("samkit.data")
    before = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(before)


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode()}


def _photo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8)).save(path)


def _square() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[2:8, 3:9] = True
    return m


COCO_DOC = {
    "images": [{"id": 1, "file_name": "a.png", "height": H, "width": W},
               {"id": "two", "file_name": "b.png", "height": H, "width": W}],
    "annotations": [
        {"id": 10, "image_id": 1, "iscrowd": 0, "area": 36, "segmentation": [[3, 2, 9, 2, 9, 8, 3, 8]]},
        {"id": 11, "image_id": 1, "iscrowd": 0, "area": 36, "segmentation": _rle(_square())},
        {"id": 12, "image_id": "two", "iscrowd": 1, "segmentation": {"size": [H, W], "counts": [20, 30, H * W - 50]}},
        {"id": 13, "image_id": "two", "iscrowd": 0, "segmentation": {"size": [H, W], "counts": [20, 30, H * W - 50]}},
    ],
    "categories": [{"id": 1, "name": "thing"}],
}


def _load_all(dataset) -> None:
    """Build happened; now read every record (each may raise InputError, nothing else)."""
    for i in range(len(dataset)):
        try:
            sample = dataset[i]
        except InputError:
            continue
        assert sample.masks.shape[1:] == sample.image_rgb.shape[:2]


def _only_input_errors(build) -> None:
    try:
        dataset = build()
    except InputError as e:
        assert str(e) and "\n" not in str(e).strip()
        return
    _load_all(dataset)


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("coco")
    _photo(root / "images" / "a.png")
    _photo(root / "images" / "b.png")
    return root


@FUZZ
@given(text=broken_json(COCO_DOC))
def test_coco_reader(coco_root, text):
    from samkit.data.specs import DatasetSpec, build_dataset

    (coco_root / "instances.json").write_bytes(text)
    _only_input_errors(lambda: build_dataset(DatasetSpec(str(coco_root / "instances.json"), "coco",
                                                         images=str(coco_root / "images"))))


@FUZZ
@given(text=broken_json(COCO_DOC))
def test_coco_eval_reader(coco_root, text):
    """`samkit eval`'s own COCO reader (keeps crowds and areas) and the masks it decodes later."""
    from samkit.evaluation.coco_instances import read_coco_images

    path = coco_root / "instances_val.json"
    path.write_bytes(text)
    try:
        images = read_coco_images(path, coco_root / "images", max_objects_per_image=3)
    except InputError:
        return
    for image in images:
        for obj in image.objects:
            assert obj.decode_mask().shape == image.hw


@FUZZ
@given(text=broken_json(COCO_DOC))
def test_format_detection(coco_root, text):
    """`format = "auto"` reads the JSON to tell COCO, panoptic and image -> masks mappings apart."""
    from samkit.data.specs import DatasetSpec, build_dataset

    (coco_root / "any.json").write_bytes(text)
    _only_input_errors(lambda: build_dataset(DatasetSpec(str(coco_root / "any.json"),
                                                         images=str(coco_root / "images"))))


SA1B_DOC = {"image": {"image_id": 1, "file_name": "a.png", "height": H, "width": W},
            "annotations": [{"id": 1, "segmentation": _rle(_square()), "bbox": [3, 2, 6, 6], "area": 36}]}


@pytest.fixture(scope="module")
def sa1b_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sa1b")
    _photo(root / "a.png")
    return root


@FUZZ
@given(text=broken_json(SA1B_DOC))
def test_sa1b_reader(sa1b_root, text):
    from samkit.data.specs import DatasetSpec, build_dataset

    (sa1b_root / "a.json").write_bytes(text)
    _only_input_errors(lambda: build_dataset(DatasetSpec(str(sa1b_root), "sa1b")))


PANOPTIC_DOC = {
    "images": [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
    "annotations": [{"image_id": 1, "file_name": "a.png",
                     "segments_info": [{"id": 5, "category_id": 1, "iscrowd": 0},
                                       {"id": 7, "category_id": 2, "iscrowd": 0}]}],
    "categories": [{"id": 1, "name": "thing", "isthing": 1}, {"id": 2, "name": "sky", "isthing": 0}],
}


@pytest.fixture(scope="module")
def panoptic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("panoptic")
    _photo(root / "images" / "a.png")
    ids = np.full((H, W, 3), 0, np.uint8)
    ids[_square()] = (5, 0, 0)
    ids[:2] = (7, 0, 0)
    (root / "panoptic").mkdir()
    Image.fromarray(ids).save(root / "panoptic" / "a.png")
    return root


@FUZZ
@given(text=broken_json(PANOPTIC_DOC))
def test_panoptic_reader(panoptic_root, text):
    from samkit.data.specs import DatasetSpec, build_dataset

    (panoptic_root / "panoptic.json").write_bytes(text)
    _only_input_errors(lambda: build_dataset(DatasetSpec(str(panoptic_root / "panoptic.json"), "coco_panoptic",
                                                         images=str(panoptic_root / "images"),
                                                         labels=str(panoptic_root / "panoptic"))))


MAPPING_DOC = {"imgs/a.png": ["masks/a_0.png", "masks/a_1.png"], "imgs/b.png": ["masks/a_0.png"]}


@pytest.fixture(scope="module")
def mapping_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mapping")
    _photo(root / "imgs" / "a.png")
    _photo(root / "imgs" / "b.png")
    (root / "masks").mkdir()
    Image.fromarray(_square().astype(np.uint8) * 255).save(root / "masks" / "a_0.png")
    Image.fromarray(np.zeros((H + 1, W), np.uint8)).save(root / "masks" / "a_1.png")  # wrong size: skipped
    return root


@FUZZ
@given(text=broken_json(MAPPING_DOC))
def test_image_to_masks_mapping_reader(mapping_root, text):
    from samkit.data.specs import DatasetSpec, build_dataset

    (mapping_root / "map.json").write_bytes(text)
    _only_input_errors(lambda: build_dataset(DatasetSpec(str(mapping_root / "map.json"), "object_masks")))


META_DOC = {"videos": {"v1": {"objects": {"1": {"category": "cat", "frames": ["00000"]}}}}}


@pytest.fixture(scope="module")
def ytvos_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ytvos")
    _photo(root / "JPEGImages" / "v1" / "00000.jpg")
    (root / "Annotations" / "v1").mkdir(parents=True)
    labels = Image.fromarray(_square().astype(np.uint8), mode="L").convert("P")
    labels.save(root / "Annotations" / "v1" / "00000.png")
    return root


@FUZZ
@given(text=broken_json(META_DOC))
def test_youtube_vos_meta_reader(ytvos_root, text):
    from samkit.data.specs import DatasetSpec, build_dataset

    (ytvos_root / "meta.json").write_bytes(text)
    _only_input_errors(lambda: build_dataset(DatasetSpec(str(ytvos_root), "youtube_vos")))
