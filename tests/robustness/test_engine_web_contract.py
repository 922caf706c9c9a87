"""The HTTP contract of `samkit engine annotate`'s /api/engine endpoints: schemathesis (all checks,
the phases of `st run --checks all`) against the engine app over a small project, tiny model.

The annotator endpoints it mounts on are covered by test_serve_contract.py; this run includes only
/api/engine/. Schema-valid requests the schema cannot tell are unusable (a mask of another size, an
RLE whose runs do not add up, a version someone else moved past, an unknown id) are expected refusals.
"""

from __future__ import annotations

import os

import pytest

from engine_web.engine_project import add_automatic_masks, add_proposals, make_project
from robustness.schemathesis_run import expected_refusals, schemathesis_failures

MAX_EXAMPLES = int(os.environ.get("SAMKIT_SCHEMATHESIS_EXAMPLES_ENGINE", "12"))
SEMANTIC = ["2xx", "404", "409", "422"]
EXPECTED_REFUSALS = {
    "POST /api/engine/images/{image_id}/masks": SEMANTIC,
    "PATCH /api/engine/masks/{mask_id}": SEMANTIC,
    "POST /api/engine/images/{image_id}/finish": SEMANTIC,
    "POST /api/engine/review/masks/{mask_id}": SEMANTIC,
    "GET /api/engine/images/{image_id}": SEMANTIC,
    "POST /api/engine/queue/{stage}/next": SEMANTIC,
}


def _failures(app) -> tuple[list[str], int]:
    return schemathesis_failures(app, MAX_EXAMPLES, expected_refusals(EXPECTED_REFUSALS))


def test_schemathesis_all_checks_engine(one_torch_thread, tmp_path):
    pytest.importorskip("schemathesis")
    from samkit.engine.web_app import create_engine_app

    project = make_project(tmp_path)
    add_proposals(project, project.store.images()[0].id)
    add_automatic_masks(project, n=4)
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>samkit test page</title><body></body>")
    app = create_engine_app(project, "alice", static_dir=static, export_decoder_on_start=False)
    spec = app.openapi()  # only the engine's operations: the annotator's have their own contract test
    spec["paths"] = {path: ops for path, ops in spec["paths"].items() if path.startswith("/api/engine")}
    failures, checks = _failures(app)
    assert checks > 200
    assert not failures, "\n".join(failures)
