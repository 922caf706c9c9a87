"""LabPics folders: vessel (red) and material (blue) instances, Train/Test split, bad files."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samkit.data import DatasetSpec, build_dataset
from samkit.data.labpics import LabPicsFolder, is_labpics_root
from samkit.data.specs import detect_format
from samkit.errors import InputError

H, W = 24, 32


def instance_map(seed: int) -> tuple[np.ndarray, dict]:
    """An RGB instance map and its expected masks: vessels 1 and 2 (red), materials 1 and 3 (blue).
    Material 1 shares its id with vessel 1 and lies inside it; green holds noise LabPics ignores."""
    rng = np.random.default_rng(seed)
    arr = np.zeros((H, W, 3), np.uint8)
    arr[..., 1] = rng.integers(0, 255, (H, W))
    arr[2:20, 2:14, 0] = 1
    arr[4:22, 18:30, 0] = 2
    arr[10:20, 4:12, 2] = 1
    arr[12:22, 20:28, 2] = 3
    expected = {f"vessel:{v}": arr[..., 0] == v for v in (1, 2)}
    expected.update({f"material:{v}": arr[..., 2] == v for v in (1, 3)})
    return arr, expected


def write_labpics(root: Path, layout=(("Simple", "Train", 2), ("Simple", "Test", 1), ("Complex", "Train", 1))) -> Path:
    """root/<subset>/<split>/Image/<name>.jpg + Instance/<name>.png, n images per folder."""
    seed = 0
    for subset, split, n in layout:
        folder = root / subset / split
        (folder / "Image").mkdir(parents=True)
        (folder / "Instance").mkdir(parents=True)
        for i in range(n):
            seed += 1
            name = f"{subset}_{split}_{i}"
            Image.fromarray(np.full((H, W, 3), 10 * seed, np.uint8)).save(folder / "Image" / f"{name}.jpg")
            Image.fromarray(instance_map(seed)[0]).save(folder / "Instance" / f"{name}.png")
    return root


def test_vessels_and_materials_are_separate_instances_even_with_equal_ids(tmp_path):
    root = write_labpics(tmp_path)
    assert detect_format(DatasetSpec(str(root))).format == "labpics"
    ds = build_dataset(DatasetSpec(str(root)))
    assert isinstance(ds, LabPicsFolder) and len(ds) == 4 and not ds.issues
    sample = ds[0]
    assert Path(sample.key).stem == "Complex_Train_0"  # Complex/ sorts before Simple/; written 4th
    _, expected = instance_map(4)
    assert sample.instance_ids == ("vessel:1", "vessel:2", "material:1", "material:3")
    for mask, key in zip(sample.masks, sample.instance_ids):
        assert np.array_equal(mask, expected[key]), key
    # vessel 1 and material 1 share an id but are two different masks (the liquid inside the glass)
    assert not np.array_equal(sample.masks[0], sample.masks[2]) and (sample.masks[0] & sample.masks[2]).sum() == 80


def test_kinds_keep_only_vessels_or_only_materials(tmp_path):
    root = write_labpics(tmp_path)
    vessels = build_dataset(DatasetSpec(str(root), kinds="vessel"))[0]
    materials = build_dataset(DatasetSpec(str(root), kinds="materials"))[0]
    assert vessels.instance_ids == ("vessel:1", "vessel:2")
    assert materials.instance_ids == ("material:1", "material:3")
    with pytest.raises(InputError, match="kinds"):
        build_dataset(DatasetSpec(str(root), kinds="glass"))


def test_train_test_folders_are_the_official_split(tmp_path):
    root = write_labpics(tmp_path)
    train = build_dataset(DatasetSpec(str(root), split="train"))
    test = build_dataset(DatasetSpec(str(root), split="test"))
    assert {r["split"] for r in train.records} == {"train"} and len(train) == 3
    assert [Path(r["key"]).name for r in test.records] == ["Simple_Test_0.jpg"]
    # the root may also be a Simple|Complex folder or a Train|Test folder
    simple = build_dataset(DatasetSpec(str(root / "Simple")))
    assert sorted(Path(r["key"]).stem for r in simple.records) == ["Simple_Test_0", "Simple_Train_0", "Simple_Train_1"]
    only = build_dataset(DatasetSpec(str(root / "Complex" / "Train")))
    assert [Path(r["key"]).stem for r in only.records] == ["Complex_Train_0"] and only.records[0]["split"] == "train"
    assert is_labpics_root(root / "Simple" / "Test") and not is_labpics_root(root / "Simple" / "Test" / "Image")
    with pytest.raises(InputError, match="Test"):
        build_dataset(DatasetSpec(str(root / "Complex"), split="test"))
    with pytest.raises(InputError, match="split"):
        LabPicsFolder(root, split="val")


def test_split_and_kinds_are_config_keys_and_labpics_only(tmp_path, label_map_dir):
    from samkit.training.config import load_config_file

    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text('[[data.train]]\npath = "x"\nformat = "labpics"\nsplit = "train"\nkinds = "vessel"\n')
    spec = load_config_file(cfg_path).data.train[0]
    assert (spec.split, spec.kinds) == ("train", "vessel")
    with pytest.raises(InputError, match="labpics"):
        build_dataset(DatasetSpec(str(label_map_dir), split="train"))


def test_missing_instance_map_is_reported_and_bad_files_name_the_file(tmp_path):
    root = write_labpics(tmp_path, layout=(("Simple", "Train", 3),))
    inst = root / "Simple" / "Train" / "Instance"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "Simple" / "Train" / "Image" / "lonely.jpg")
    (inst / "Simple_Train_1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(inst / "Simple_Train_2.png")  # grayscale: not an instance map
    ds = build_dataset(DatasetSpec(str(root)))
    assert len(ds) == 3 and [i.item_id for i in ds.issues] == ["lonely"]
    assert len(ds[0].masks) == 4
    with pytest.raises(InputError, match="Simple_Train_1.png"):
        ds[1]
    with pytest.raises(InputError, match="Simple_Train_2.png.*RGB"):
        ds[2]


def test_instance_map_of_another_size_is_an_error(tmp_path):
    root = write_labpics(tmp_path, layout=(("Simple", "Train", 1),))
    Image.fromarray(np.zeros((H + 1, W, 3), np.uint8)).save(root / "Simple" / "Train" / "Instance" / "Simple_Train_0.png")
    with pytest.raises(InputError, match="Simple_Train_0.png.*differs"):
        build_dataset(DatasetSpec(str(root)))[0]
