"""EngineStore: masks with provenance, idempotent retries, version conflicts, leases, reviews, and
two annotators writing at once (threads) without overwriting each other."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from samkit.automatic.rle import encode_coco_rle
from samkit.engine.store import EngineStore, VersionConflict
from samkit.errors import InputError


def _rle(h=20, w=30, y=2, x=3, s=5):
    m = np.zeros((h, w), bool)
    m[y:y + s, x:x + s] = True
    return encode_coco_rle(m)


@pytest.fixture()
def store(tmp_path):
    st = EngineStore(tmp_path / "engine.sqlite")
    st.add_images([(f"im{i}.png", 20, 30) for i in range(4)])
    return st


def test_add_mask_provenance_and_idempotent_retry(store):
    row = store.add_mask(1, _rle(), stage=1, round=0, source="annotator:ann", clicks=3, seconds=11.0,
                         predicted_iou=0.7, client_id="c-1")
    assert (row.area, row.bbox_xywh, row.clicks, row.seconds, row.version) == (25, [3.0, 2.0, 5.0, 5.0], 3, 11.0, 1)
    again = store.add_mask(1, _rle(), stage=1, round=0, source="annotator:ann", client_id="c-1")
    assert again.id == row.id and len(store.masks()) == 1
    assert row.mask().sum() == 25 and store.masks(1, stage=1, state="accepted")[0].id == row.id
    with pytest.raises(InputError, match="differs"):
        store.add_mask(1, _rle(h=10), stage=1, round=0, source="x")
    with pytest.raises(InputError):
        store.add_mask(1, {"size": [20, 30], "counts": "!!"}, stage=1, round=0, source="x")
    assert store.add_images([("im0.png", 20, 30), ("new.png", 20, 30)]) == 1


def test_version_conflict_names_the_current_row(store):
    row = store.add_mask(1, _rle(), stage=2, round=1, source="model:1", state="proposed")
    ok = store.set_mask_state(row.id, "rejected", expected_version=1)
    assert ok.version == 2
    with pytest.raises(VersionConflict) as e:
        store.set_mask_state(row.id, "accepted", expected_version=1)
    assert e.value.current.state == "rejected" and e.value.current.version == 2


def test_leases_give_two_annotators_different_images(store):
    a = store.claim_next_image(1, "alice")
    b = store.claim_next_image(1, "bob")
    assert a.id != b.id
    assert store.claim_next_image(1, "alice").id == a.id  # own lease renewed, not a new image
    store.finish_image(a.id, 1, "alice")
    assert 1 in store.image(a.id).done_stages
    expired = store.claim_next_image(1, "carol", lease_s=-1)  # expires at once
    assert store.claim_next_image(1, "dave").id == expired.id
    with pytest.raises(KeyError):
        store.image(99)


def test_review_and_stats(store):
    for i in range(6):
        store.add_mask(2, _rle(x=i), stage=3, round=2, source="model:2", predicted_iou=0.9, stability=0.95)
    store.add_mask(1, _rle(), stage=1, round=0, source="annotator:a", clicks=4, seconds=13.0)
    queued = store.sample_for_review(4, seed=1)
    assert len(queued) == 4 and all(m.stage == 3 for m in queued)
    assert len(store.sample_for_review(10)) == 2  # only the not yet queued ones
    store.record_review(queued[0].id, "reject", "r")
    store.record_review(queued[1].id, "accept", "r")
    assert store.review_stats() == {"reviewed": 2, "rejected": 1, "rejection_rate": 0.5}
    assert store.review_rejected_ids() == {queued[0].id}
    store.add_model(1, "m.safetensors", {"miou_1click": 0.5}, adopted=True)
    store.add_model(2, "m2.safetensors", {"miou_1click": 0.4}, adopted=False)
    assert store.current_model().round == 1 and store.state()["round"] == 2
    rows = {(r["stage"], r["round"]): r for r in store.stats()}
    assert rows[(1, 0)]["clicks_per_mask"] == 4 and rows[(1, 0)]["seconds_per_mask"] == 13.0
    assert rows[(3, 2)]["masks"] == 6 and rows[(3, 2)]["masks_per_image"] == 6 and rows[(3, 2)]["model_miou"] == 0.4


def test_two_annotators_concurrently_lose_nothing(tmp_path):
    """Two threads (each its own connection) add masks and flip the same masks' states at once:
    every add lands, every state change either lands or raises VersionConflict, none is silently lost."""
    store = EngineStore(tmp_path / "engine.sqlite")
    store.add_images([("a.png", 20, 30)])
    shared = [store.add_mask(1, _rle(x=i), stage=2, round=0, source="model:0", state="proposed") for i in range(20)]
    outcome = {"alice": [0, 0], "bob": [0, 0]}
    added: dict[str, list[int]] = {"alice": [], "bob": []}
    barrier = threading.Barrier(2)

    def annotator(name: str, state: str) -> None:
        barrier.wait()
        for i, m in enumerate(shared):
            added[name].append(store.add_mask(1, _rle(y=i % 10), stage=2, round=0, source=f"annotator:{name}",
                                              client_id=f"{name}-{i}").id)
            try:
                store.set_mask_state(m.id, state, expected_version=1)
                outcome[name][0] += 1
            except VersionConflict:
                outcome[name][1] += 1

    threads = [threading.Thread(target=annotator, args=("alice", "accepted")),
               threading.Thread(target=annotator, args=("bob", "rejected"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome["alice"][0] + outcome["bob"][0] == 20  # each shared mask changed exactly once
    assert outcome["alice"][1] + outcome["bob"][1] == 20  # and the other writer was told
    for m in shared:
        row = store.mask(m.id)
        assert row.version == 2 and row.state in ("accepted", "rejected")
    ids = {m.id for m in store.masks()}
    assert set(added["alice"]) <= ids and set(added["bob"]) <= ids and len(ids) == 60
