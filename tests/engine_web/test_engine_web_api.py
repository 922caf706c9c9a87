"""The engine's browser-mode API (TestClient): queue, masks with effort, proposals, review, model swap."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from engine_web.engine_project import add_automatic_masks, add_proposals, adopt_round, box_mask, rle_of


def mask_body(**kw) -> dict:
    body = {"segmentation": rle_of(box_mask(10, 40, 20, 60)), "stage": 1, "clicks": 3, "seconds": 7.25,
            "predicted_iou": 0.8, "client_id": "client-0001"}
    return {**body, **kw}


def test_page_is_marked_and_session_reports_the_project(client, project):
    assert 'data-engine="1"' in client.get("/").text
    s = client.get("/api/engine/session").json()
    assert (s["annotator"], s["stage"], s["model_round"], s["images"], s["failed_images"]) == ("alice", 1, 0, 3, 0)
    assert s["done_by_stage"] == {"1": 0, "2": 0, "3": 0}


def test_queue_leases_images_to_one_annotator_each(client, project):
    a = client.post("/api/engine/queue/1/next", json={}).json()
    b = client.post("/api/engine/queue/1/next", json={"annotator": "bob"}).json()
    assert a["image"]["id"] != b["image"]["id"] and a["remaining"] == 3
    again = client.post("/api/engine/queue/1/next", json={}).json()
    assert again["image"]["id"] == a["image"]["id"]  # alice's own unfinished image first
    # The annotator app knows the image under annotator_image_id: its file and embedding live there.
    sid = a["image"]["annotator_image_id"]
    assert client.get(f"/api/images/{sid}/file").status_code == 200
    assert client.post("/api/engine/queue/3/next", json={}).status_code == 422
    assert client.post("/api/engine/queue/1/next", json={"annotator": "no spaces"}).status_code == 422


def test_accepted_mask_is_stored_with_clicks_seconds_and_retries_are_idempotent(client, project):
    iid = client.post("/api/engine/queue/1/next", json={}).json()["image"]["id"]
    r = client.post(f"/api/engine/images/{iid}/masks", json=mask_body())
    assert r.status_code == 201
    m = r.json()
    assert (m["clicks"], m["seconds"], m["source"], m["stage"], m["round"], m["state"]) == \
        (3, 7.25, "annotator:alice", 1, 0, "accepted")
    assert m["area"] == 30 * 40 and m["bbox"] == [20.0, 10.0, 40.0, 30.0]
    retry = client.post(f"/api/engine/images/{iid}/masks", json=mask_body())
    assert retry.json()["id"] == m["id"] and len(project.store.masks(iid)) == 1
    stored = project.store.masks(iid)[0]
    assert (stored.clicks, stored.seconds) == (3, 7.25)
    assert client.get(f"/api/engine/images/{iid}").json()["masks"][0]["id"] == m["id"]
    # Bad input: wrong size, broken RLE, unknown image, negative effort.
    wrong = mask_body(client_id="client-0002", segmentation=rle_of(np.ones((5, 5), bool)))
    assert client.post(f"/api/engine/images/{iid}/masks", json=wrong).status_code == 422
    broken = mask_body(client_id="client-0003", segmentation={"size": [120, 160], "counts": "!!"})
    r = client.post(f"/api/engine/images/{iid}/masks", json=broken)
    assert r.status_code == 422 and r.json()["detail"].startswith("mask rejected")
    assert client.post("/api/engine/images/999/masks", json=mask_body(client_id="client-0004")).status_code == 404
    assert client.post(f"/api/engine/images/{iid}/masks", json=mask_body(clicks=-1)).status_code == 422
    # Finishing moves the queue on.
    assert client.post(f"/api/engine/images/{iid}/finish", json={"stage": 1}).json() == {"image_id": iid, "accepted": 0}
    assert 1 in project.store.image(iid).done_stages
    assert client.post("/api/engine/queue/1/next", json={}).json()["image"]["id"] != iid


def test_proposals_reject_restore_accept_rest_and_conflicts(client, project):
    iid = client.post("/api/engine/queue/2/next", json={}).json()["image"]["id"]
    p1, p2 = add_proposals(project, iid)
    r = client.patch(f"/api/engine/masks/{p1.id}", json={"state": "rejected", "expected_version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = client.patch(f"/api/engine/masks/{p1.id}", json={"state": "proposed", "expected_version": 1})
    assert stale.status_code == 409 and "another annotator" in stale.json()["detail"]
    assert project.store.mask(p1.id).state == "rejected"
    # finish with a stale version of p2: 409, nothing finished, nothing accepted
    project.store.set_mask_state(p2.id, "proposed", expected_version=1)  # someone touched it: version 2
    r = client.post(f"/api/engine/images/{iid}/finish", json={"stage": 2, "accept": [{"id": p2.id, "expected_version": 1}]})
    assert r.status_code == 409 and 2 not in project.store.image(iid).done_stages
    assert project.store.mask(p2.id).state == "proposed"
    r = client.post(f"/api/engine/images/{iid}/finish", json={"stage": 2, "accept": [{"id": p2.id, "expected_version": 2}]})
    assert r.json() == {"image_id": iid, "accepted": 1}
    assert project.store.mask(p2.id).state == "accepted" and 2 in project.store.image(iid).done_stages
    # A mask of another image is refused; unknown masks are 404.
    other = project.store.images()[1].id
    r = client.post(f"/api/engine/images/{other}/finish", json={"stage": 2, "accept": [{"id": p2.id, "expected_version": 3}]})
    assert r.status_code == 422
    assert client.patch("/api/engine/masks/9999", json={"state": "rejected", "expected_version": 1}).status_code == 404


def test_review_queue_verdicts_and_rejection_rate(client, project):
    masks = add_automatic_masks(project, n=4)
    assert client.get("/api/engine/review").json()["items"] == []
    q = client.post("/api/engine/review/sample", json={"n": 3}).json()
    assert len(q["items"]) == 3 and q["stats"]["queued"] == 3 and q["stats"]["automatic_masks"] == 4
    ids = [it["mask"]["id"] for it in q["items"]]
    assert client.post(f"/api/engine/review/masks/{ids[0]}", json={"verdict": "reject"}).json()["rejection_rate"] == 1.0
    s = client.post(f"/api/engine/review/masks/{ids[1]}", json={"verdict": "accept"}).json()
    assert (s["reviewed"], s["rejected"], s["rejection_rate"], s["queued"]) == (2, 1, 0.5, 1)
    assert [it["mask"]["id"] for it in client.get("/api/engine/review").json()["items"]] == ids[2:]
    assert client.post(f"/api/engine/review/masks/{ids[2]}", json={"verdict": "maybe"}).status_code == 422
    manual = project.store.add_mask(masks[0].image_id, rle_of(box_mask(0, 5, 0, 5)), stage=1, round=0,
                                    source="annotator:x")
    assert client.post(f"/api/engine/review/masks/{manual.id}", json={"verdict": "accept"}).status_code == 422
    assert client.post("/api/engine/review/masks/9999", json={"verdict": "accept"}).status_code == 404


def test_adopted_round_is_served_without_restart(client, project):
    sid = client.post("/api/engine/queue/1/next", json={}).json()["image"]["annotator_image_id"]

    def embedding() -> bytes:
        client.post(f"/api/images/{sid}/embedding")
        for _ in range(600):
            r = client.get(f"/api/images/{sid}/embedding")
            if r.status_code == 200:
                return r.content
            import time

            time.sleep(0.05)
        raise AssertionError("the image was never encoded")

    before = embedding()
    adopt_round(project, 1, seed=3)
    assert client.get("/api/engine/session").json()["model_round"] == 1
    assert embedding() != before  # re-encoded with the adopted model
    iid = client.get("/api/engine/session") and project.store.images()[0].id
    r = client.post(f"/api/engine/images/{iid}/masks", json=mask_body(client_id="client-round1"))
    assert r.json()["round"] == 1
    # A broken checkpoint for round 2 keeps round 1 served (the annotator keeps working).
    bad = project.round_dir(2) / "model.safetensors"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    project.store.add_model(2, str(bad), {}, adopted=True)
    assert client.get("/api/engine/session").json()["model_round"] == 1
    assert client.app.state.engine.watcher.error.startswith("round 2's model could not be loaded")


def test_every_engine_endpoint_documents_json_and_errors(client):
    spec = client.get("/openapi.json").json()
    engine = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/engine")}
    assert len(engine) == 9
    for path, ops in engine.items():
        for method, op in ops.items():
            ok = next(code for code in op["responses"] if code.startswith("2"))
            assert "application/json" in op["responses"][ok]["content"], (method, path)
            for code, answer in op["responses"].items():
                if code[0] in "45":
                    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut"), (method, path, code)
    # Errors use serve's one body: {"detail": str}.
    r = client.get("/api/engine/images/12345")
    assert r.status_code == 404 and set(r.json()) == {"detail"}
    r = client.delete("/api/engine/session")
    assert r.status_code == 405 and "GET" in r.headers["allow"]


def test_real_server_http_roundtrip(project, static_dir):
    """Sanity over real HTTP (uvicorn): the same answers as TestClient."""
    from browser.harness import serve_app
    from samkit.engine.web_app import create_engine_app

    with serve_app(create_engine_app(project, "carol", static_dir=static_dir, export_decoder_on_start=False)) as url:
        s = httpx.get(url + "api/engine/session").json()
        assert s["annotator"] == "carol"


def test_cli_refuses_bad_input_with_one_line(tmp_path, project, capsys):
    from samkit.cli.main import main

    assert main(["engine", "annotate", str(tmp_path / "nothing")]) == 2
    assert "is not an engine project" in capsys.readouterr().err
    assert main(["engine", "annotate", str(project.dir), "--annotator", "two words"]) == 2
    assert "--annotator 'two words'" in capsys.readouterr().err
    assert main(["engine", "annotate", str(project.dir), "--port", "0"]) == 2
