"""Every reader of masks, label maps and annotation PNGs, given each file of the broken-file corpus:
it reads the file or raises InputError naming it (truncated, zero-byte, bombs, odd modes)."""

from __future__ import annotations

import pytest

from robustness.broken_files import build_image_corpus
from samkit.errors import InputError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mask_corpus")
    return folder, build_image_corpus(folder)


def _readers():
    from samkit.data.davis import read_davis_labels
    from samkit.data.label_maps import read_label_map
    from samkit.data.labpics import read_labpics_instances
    from samkit.data.panoptic import read_panoptic_ids
    from samkit.data.video_datasets import _palette_has_object, _read_binary_png

    return {"label map": read_label_map, "DAVIS annotation": read_davis_labels, "LabPics": read_labpics_instances,
            "panoptic": read_panoptic_ids, "SA-V object mask": _read_binary_png, "palette frame": _palette_has_object}


def test_mask_readers_read_or_name_the_file(corpus):
    folder, verdicts = corpus
    outcomes = {}
    for reader_name, read in _readers().items():
        for name, verdict in verdicts.items():
            try:
                read(folder / name)
                outcomes[reader_name, name] = "work"
            except InputError as e:
                assert name in str(e) and "\n" not in str(e), (reader_name, name, str(e))
                outcomes[reader_name, name] = "refuse"
            if verdict == "refuse" and name != "nan.tif":  # a NaN float TIFF is a valid float label map
                assert outcomes[reader_name, name] == "refuse", (reader_name, name)
    assert outcomes["label map", "gray16.png"] == "work" and outcomes["panoptic", "rgba.png"] == "work"
