"""`samkit finetune` details: where it starts when no --checkpoint is given, a config file merged over
its fine-tuning defaults, and SAM 2 validation scoring more objects than a training clip holds."""

from pathlib import Path

import numpy as np
import pytest

from samkit.cli.finetune import _starting_point, finetune_defaults
from samkit.cli.main import main
from samkit.default_model import DEFAULT_SAM2_WEIGHTS, DEFAULT_WEIGHTS
from samkit.errors import InputError
from samkit.training.config import TrainConfig, config_from_dict, load_config_file


def test_no_checkpoint_means_a_built_in_model():
    assert _starting_point(None, "sam2") == (str(DEFAULT_SAM2_WEIGHTS), "")
    assert _starting_point(None, "") == (str(DEFAULT_WEIGHTS), "")
    # a file given with --model sam2: the file decides the preset
    assert _starting_point("mine.safetensors", "sam2") == ("mine.safetensors", "")
    assert _starting_point("sam2.1_hiera_tiny.pt", "sam2.1_hiera_t") == ("sam2.1_hiera_tiny.pt", "sam2.1_hiera_t")
    with pytest.raises(InputError, match="random weights"):
        _starting_point(None, "vit_b")


def test_a_preset_without_weights_exits_2(tmp_path, capsys):
    assert main(["finetune", "--model", "vit_b", "--data", str(tmp_path)]) == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_config_file_keeps_the_finetune_defaults_it_does_not_set(tmp_path):
    path = tmp_path / "ft.toml"
    path.write_text("[run]\nmax_steps = 7\n[sam2]\nmax_objects = 2\n")
    base = finetune_defaults()
    cfg = load_config_file(path, base=base)
    assert cfg.run.max_steps == 7 and cfg.sam2.max_objects == 2
    assert cfg.optim.lr == base.optim.lr == 1e-4 and cfg.optim.warmup_steps == 20
    assert cfg.run.run_dir == "runs/finetune"
    # without a base, the plain training defaults, as before
    assert load_config_file(path).optim.lr == TrainConfig().optim.lr != 1e-4
    with pytest.raises(InputError, match="sam2.val_max_objects"):
        config_from_dict({"sam2": {"val_max_objects": 0}, "data": {"train": ["x"]}}).validate()


def test_sam2_validation_scores_up_to_val_max_objects(tmp_path):
    from PIL import Image

    from samkit.training.sam2_session import clip_splits, clip_val_batches

    side, n_objects = 96, 6
    for split in ("Train", "Test"):
        (tmp_path / "lp" / "Simple" / split / "Image").mkdir(parents=True)
        (tmp_path / "lp" / "Simple" / split / "Instance").mkdir(parents=True)
        for i in range(6):
            image = np.full((side, side, 3), 30, np.uint8)
            inst = np.zeros((side, side, 3), np.uint8)
            for k in range(n_objects):  # six separate squares, one instance each
                y, x = 8 + (k // 3) * 44, 6 + (k % 3) * 30
                image[y:y + 24, x:x + 22] = (180, 40 * k, 90)
                inst[y:y + 24, x:x + 22, 0] = k + 1
            Image.fromarray(image).save(tmp_path / "lp" / "Simple" / split / "Image" / f"im{i}.jpg")
            Image.fromarray(inst).save(tmp_path / "lp" / "Simple" / split / "Instance" / f"im{i}.png")
    root = Path(tmp_path / "lp")
    for val in ([{"path": str(root), "split": "test"}], []):
        cfg = config_from_dict({"data": {"train": [{"path": str(root), "split": "train"}], "val": val,
                                         "val_fraction": 0.5, "min_mask_area_px": 16},
                                "sam2": {"num_frames": 1, "max_objects": 2, "val_max_objects": 5}})
        train, _, val_sets = clip_splits(cfg, image_size=64)
        assert val_sets, val
        counts = [int(b.masks.shape[2]) if hasattr(b, "masks") else None for b in clip_val_batches(val_sets, 64, cfg)()]
        assert counts and max(counts) == 5, counts
        assert all(s.sampling.max_objects == 2 for s in train)
