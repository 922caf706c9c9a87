"""Faults of the browser modes over real HTTP: two annotators racing on one project, and kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from browser.harness import REPO_ROOT, free_port, serve_app
from engine_web.engine_project import add_proposals, box_mask, rle_of


def _race(calls) -> list[httpx.Response]:
    """Run the calls at the same moment from separate threads (one HTTP client each)."""
    barrier = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i, call):
        with httpx.Client(timeout=60) as c:
            barrier.wait()
            out[i] = call(c)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_annotators_never_overwrite_each_other(project, static_dir):
    from samkit.engine.web_app import create_engine_app

    iid = project.store.images()[0].id
    with serve_app(create_engine_app(project, "alice", static_dir=static_dir, export_decoder_on_start=False)) as url:
        for attempt in range(3):  # each round: both decide on the same proposal at the version both saw
            (p, _) = add_proposals(project, iid)
            answers = _race([
                lambda c: c.patch(f"{url}api/engine/masks/{p.id}", json={"state": "rejected", "expected_version": 1}),
                lambda c: c.post(f"{url}api/engine/images/{iid}/finish",
                                 json={"stage": 2, "annotator": "bob", "accept": [{"id": p.id, "expected_version": 1}]}),
            ])
            codes = sorted(a.status_code for a in answers)
            assert codes == [200, 409], [a.text for a in answers]
            loser = next(a for a in answers if a.status_code == 409)
            assert "another annotator" in loser.json()["detail"]
            winner = next(a for a in answers if a.status_code == 200)
            final = project.store.mask(p.id)
            assert final.version == 2 and final.state == ("rejected" if "state" in winner.json() else "accepted")
        # Two adds at once (different annotators, same image): both masks are kept.
        before = len(project.store.masks(iid))
        bodies = [{"segmentation": rle_of(box_mask(10, 30, 10 + 40 * k, 40 + 40 * k)), "stage": 1, "clicks": k + 1,
                   "seconds": 2.0, "client_id": f"race-add-{k}", "annotator": name} for k, name in enumerate(["alice", "bob"])]
        answers = _race([lambda c, b=b: c.post(f"{url}api/engine/images/{iid}/masks", json=b) for b in bodies])
        assert [a.status_code for a in answers] == [201, 201]
        added = project.store.masks(iid)[before:]
        assert sorted(m.source for m in added) == ["annotator:alice", "annotator:bob"]


SERVER = """
import sys, uvicorn
from samkit.engine.project import open_project
from samkit.engine.web_app import create_engine_app
app = create_engine_app(open_project(sys.argv[1]), "alice", static_dir=sys.argv[2], export_decoder_on_start=False)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def test_kill_9_loses_no_accepted_mask(project, static_dir, tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(project.dir), str(static_dir), str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "api/engine/session", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the engine server did not start"
            time.sleep(0.2)
        iid = httpx.post(url + "api/engine/queue/1/next", json={}).json()["image"]["id"]
        ids = []
        for k in range(3):
            r = httpx.post(f"{url}api/engine/images/{iid}/masks", json={
                "segmentation": rle_of(box_mask(5, 25, 5 + 30 * k, 30 + 30 * k)), "stage": 1, "clicks": 2,
                "seconds": 4.5, "client_id": f"kill-test-{k}"})
            assert r.status_code == 201
            ids.append(r.json()["id"])
        proc.send_signal(signal.SIGKILL)  # right after the last answer: nothing gets to flush or close
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    from samkit.engine.project import open_project

    reopened = open_project(Path(project.dir))
    stored = {m.id: m for m in reopened.store.masks(iid)}
    assert set(ids) <= set(stored)
    assert all((stored[i].clicks, stored[i].seconds, stored[i].state) == (2, 4.5, "accepted") for i in ids)
