"""The train/validation split rule: stable, disjoint, grouped (one photo in two sources, one video
sequence) and never leaving a source without training data."""

import logging

import pytest

from samkit.data import RecordDataset, held_out
from samkit.data.splits import keep_side, record_group, val_flags
from samkit.errors import InputError


def fake_dataset(keys, groups=None, name="fake"):
    records = [{"key": k} if groups is None else {"key": k, "group": g} for k, g in zip(keys, groups or keys)]
    return RecordDataset(name, records)


def test_held_out_is_stable_seeded_and_close_to_the_fraction():
    names = [f"{i:012d}.jpg" for i in range(2000)]
    flags = [held_out(n, 0.15, 0) for n in names]
    assert flags == [held_out(n, 0.15, 0) for n in names]  # no per-process salt
    assert 0.12 < sum(flags) / len(flags) < 0.18
    assert flags != [held_out(n, 0.15, 1) for n in names]
    # a smaller fraction only moves groups from val to train
    assert all(f for n, f in zip(names, flags) if held_out(n, 0.05, 0))
    assert not any(held_out(n, 0.0, 0) for n in names)
    with pytest.raises(InputError, match="val_fraction"):
        held_out("a.jpg", 1.0)


def test_split_is_deterministic_and_disjoint():
    ds = fake_dataset([f"imgs/{i}.png" for i in range(50)])
    tr, va = ds.split(0.3, seed=3)
    tr2, va2 = fake_dataset(list(reversed(ds.keys()))).split(0.3, seed=3)
    assert set(tr.keys()) == set(tr2.keys()) and set(va.keys()) == set(va2.keys())  # file order is irrelevant
    assert set(tr.keys()).isdisjoint(va.keys()) and len(tr) + len(va) == 50 and len(va) > 0
    assert va.name == "fake[val]"


def test_the_same_photo_in_two_sources_lands_on_the_same_side():
    names = [f"{i:012d}.jpg" for i in range(200)]
    instances = fake_dataset([f"/coco/images/train2017/{n}" for n in names])
    panoptic = fake_dataset([f"/elsewhere/photos/{n}" for n in names[::2]])  # a subset, other folder
    _, va_i = instances.split(0.2, seed=0)
    tr_p, va_p = panoptic.split(0.2, seed=0)
    val_names = {k.rsplit("/", 1)[1] for k in va_i.keys()}
    assert {k.rsplit("/", 1)[1] for k in va_p.keys()} == val_names & set(names[::2])
    assert not {k.rsplit("/", 1)[1] for k in tr_p.keys()} & val_names


def test_groups_keep_a_sequence_on_one_side():
    keys = [f"/davis/{s}/{t:05d}.jpg" for s in range(20) for t in range(5)]
    ds = fake_dataset(keys, [k.split("/")[2] for k in keys])
    tr, va = ds.split(0.3, seed=0)
    seq = lambda d: {record_group(r) for r in d.records}  # noqa: E731
    assert seq(tr).isdisjoint(seq(va)) and seq(va) and len(va) == 5 * len(seq(va))


def test_a_source_that_would_be_all_validation_stays_in_train(caplog):
    group = next(f"g{i}" for i in range(1000) if held_out(f"g{i}", 0.5, 0))
    ds = fake_dataset([f"x/{group}"])
    with caplog.at_level(logging.WARNING, logger="samkit.data"):
        tr, va = ds.split(0.5, seed=0)
    assert len(tr) == 1 and len(va) == 0 and "keeping them all in train" in caplog.text


def test_keep_side_matches_the_dataset_split():
    ds = fake_dataset([f"d/{i}.png" for i in range(40)])
    tr, va = ds.split(0.25, seed=7)
    groups = [record_group(r) for r in ds.records]
    assert [k for k, f in zip(ds.keys(), keep_side(groups, "val", 0.25, 7)) if f] == va.keys()
    assert [k for k, f in zip(ds.keys(), keep_side(groups, "train", 0.25, 7)) if f] == tr.keys()
    assert all(keep_side(groups, "all", 0.25, 7)) and val_flags([], 0.5) == []
    with pytest.raises(InputError, match="split side"):
        keep_side(groups, "test", 0.25)


@pytest.mark.data
def test_shared_coco_instances_and_panoptic_agree(shared_data):
    from samkit.data import DatasetSpec, build_dataset

    inst = build_dataset(DatasetSpec(str(shared_data / "coco")))
    pan = build_dataset(DatasetSpec(str(shared_data / "coco" / "panoptic" / "panoptic_train2017.json")))
    names = lambda d: {k.rsplit("/", 1)[1] for k in d.keys()}  # noqa: E731
    photos = {p.name for p in (shared_data / "coco" / "images" / "train2017").iterdir()}
    assert names(pan) <= photos and len(names(pan) & names(inst)) >= 90  # the same photos
    (tr_i, va_i), (tr_p, va_p) = inst.split(0.15, 0), pan.split(0.15, 0)
    assert names(va_p) == names(va_i) & names(pan) and names(tr_p).isdisjoint(names(va_i))
