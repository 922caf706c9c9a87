"""Serve the built web bundle (vite output) at `/`, or a clear 503 when it has not been built."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, PlainTextResponse

from samkit.serve.api_errors import allowed_methods

# Python's table lacks these on some systems; onnxruntime-web needs application/wasm to stream-compile.
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")

BUILD_HINT = ("the annotator page is not built: run `npm --prefix web ci && npm --prefix web run build` "
              "(it writes src/samkit/serve/static/), or pass --static-dir")


def mount_static(app: FastAPI, static_dir: Path) -> None:
    """GET / and GET /<file> from static_dir; checked per request, so a later build is picked up."""
    root = Path(static_dir).resolve()

    def _send(rel: str):
        index = root / "index.html"
        if not index.is_file():
            return PlainTextResponse(BUILD_HINT, status_code=503)
        path = (root / rel).resolve() if rel else index
        if path != root and root not in path.parents:
            raise HTTPException(404, "not found")
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            raise HTTPException(404, f"no file {rel!r} in the web bundle")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        # index.html must be revalidated (it names the hashed assets); hashed assets can be cached.
        cache = "no-cache" if path.name == "index.html" else "public, max-age=3600"
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": cache})

    @app.get("/", include_in_schema=False)
    def index():
        return _send("")

    @app.get("/{rel:path}", include_in_schema=False)
    def asset(rel: str):
        if rel.startswith("api/") or rel.startswith("models/"):
            # A GET on an API path that only takes other methods (POST .../sample) is a 405, not a 404.
            raise HTTPException(405 if allowed_methods(app, f"/{rel}") else 404, f"no endpoint /{rel}")
        return _send(rel)
