"""`create_engine_app(project, annotator)`: serve's annotator app with the data engine's modes mounted.

The annotator app (samkit.serve.create_app) serves the project's images folder with the project's
current model: image files, encoding, embeddings, the ONNX decoder. Its state (embedding cache,
decoder exports) lives in DIR/annotator/, so the images folder is only read. On top of it:
  /api/engine/session, /api/engine/queue/..., /api/engine/images/... (web_assisted.py, stage 1),
  /api/engine/masks/..., .../finish (web_semiauto.py, stage 2), /api/engine/review... (web_review.py,
  stage 3); "/" is the same page marked `data-engine` on its body, so it starts in the engine's modes.
Each /api/ request first checks the adopted model round (web_model.py) and swaps a new one in.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse

from samkit.engine.project import EngineProject
from samkit.engine.web_assisted import assisted_router
from samkit.engine.web_context import EngineContext
from samkit.engine.web_model import ModelWatcher
from samkit.engine.web_review import review_router
from samkit.engine.web_schemas import SessionOut
from samkit.engine.web_semiauto import semiauto_router
from samkit.serve.app import DEFAULT_STATIC_DIR, create_app
from samkit.serve.static_files import BUILD_HINT

ENGINE_STATE_DIR = "annotator"  # DIR/annotator/: the annotator app's state for this project


def create_engine_app(project: EngineProject, annotator: str, *, static_dir: str | os.PathLike | None = None,
                      export_decoder_on_start: bool = True) -> FastAPI:
    """project: an open engine project; annotator: the name masks are recorded under by default."""
    watcher = ModelWatcher(project, served_round=0)
    served = project.store.current_model()
    watcher.served_round = served.round if served is not None else 0
    model = project.load_model()
    ctx = EngineContext(project, annotator, watcher)
    static = Path(static_dir or os.environ.get("SAMKIT_STATIC_DIR") or DEFAULT_STATIC_DIR)

    app = create_app(project.images_folder, model, static_dir=static, state_dir=project.dir / ENGINE_STATE_DIR,
                     export_decoder_on_start=export_decoder_on_start,
                     routers=[_session_router(ctx, static), assisted_router(ctx), semiauto_router(ctx),
                              review_router(ctx)])
    app.title = "samkit data engine annotator"
    ctx.serve_state = app.state
    watcher.swap = app.state.swap_model
    app.state.engine = ctx

    @app.middleware("http")
    async def follow_adopted_model(request: Request, call_next):
        if request.url.path.startswith(("/api/", "/models/")):
            await run_in_threadpool(watcher.check)
        return await call_next(request)

    return app


def _session_router(ctx: EngineContext, static: Path) -> APIRouter:
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    def engine_page():
        index = static / "index.html"
        if not index.is_file():
            return PlainTextResponse(BUILD_HINT, status_code=503)
        # The annotator's page, told to start in the engine's modes (main.ts reads data-engine).
        html = index.read_text(encoding="utf-8").replace("<body", '<body data-engine="1"', 1)
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    @router.get("/api/engine/session", response_model=SessionOut, tags=["engine"])
    def session() -> SessionOut:
        """The project, its stage and round, and the model round served now (the page reloads its
        decoder and embedding when it changes)."""
        state = ctx.store.state()
        rows = ctx.store.images()
        done = {str(s): sum(1 for r in rows if s in r.done_stages) for s in (1, 2, 3)}
        return SessionOut(project=str(ctx.project.dir.resolve()), images_folder=str(ctx.project.images_folder),
                          annotator=ctx.annotator, stage=state["stage"], round=state["round"],
                          model_round=ctx.watcher.served_round, images=len(rows),
                          failed_images=sum(1 for r in rows if r.status != "ok"), done_by_stage=done)

    return router
