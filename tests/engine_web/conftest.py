"""Fixtures for the engine's browser-mode API tests: a project with a tiny model and the app over it."""

from __future__ import annotations

import pytest

from engine_web.engine_project import make_project


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    yield


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


@pytest.fixture
def static_dir(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><html><body><p>samkit test page</p></body></html>")
    return static


@pytest.fixture
def client(project, static_dir):
    from fastapi.testclient import TestClient

    from samkit.engine.web_app import create_engine_app

    app = create_engine_app(project, "alice", static_dir=static_dir, export_decoder_on_start=False)
    with TestClient(app) as c:
        yield c
