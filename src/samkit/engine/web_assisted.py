"""Stage 1, assisted-manual: the queue of images and the masks an annotator accepts with the model's help.

The page claims the next image of a stage (a lease, so two annotators get different images), shows
its stored masks, and posts each mask it accepts with the clicks and seconds it took. A mask is in
the store (one committed transaction) before the answer is sent, so a server killed right after
loses nothing the page was told is saved; the page's client_id makes a retried post a no-op.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path

from samkit.engine.web_context import EngineContext
from samkit.engine.web_schemas import IdPath, ClaimIn, ClaimOut, EngineImageOut, MaskIn, MaskOut, mask_out
from samkit.errors import InputError
from samkit.serve.api_errors import error_responses

_NO_IMAGE = {404: "No image with this id in the project", 409: "The image failed to decode or is gone"}


def assisted_router(ctx: EngineContext) -> APIRouter:
    router = APIRouter(prefix="/api/engine", tags=["engine: assisted"])

    @router.post("/queue/{stage}/next", response_model=ClaimOut, responses=error_responses(409, 422, descriptions={
        409: "The next image's file is no longer readable"}))
    def claim_next(body: ClaimIn, stage: int = Path(ge=1, le=2, description="1 assisted-manual, 2 semi-automatic")
                   ) -> ClaimOut:
        """Lease the next image of this stage's queue to the annotator (their own unfinished one first)."""
        row = ctx.store.claim_next_image(stage, ctx.name(body.annotator))
        remaining = sum(1 for r in ctx.store.images() if r.status == "ok" and stage not in r.done_stages)
        return ClaimOut(image=ctx.image_out(row) if row is not None else None, remaining=remaining)

    @router.get("/images/{image_id}", response_model=EngineImageOut,
                responses=error_responses(404, 409, 422, descriptions=_NO_IMAGE))
    def get_image(image_id: IdPath) -> EngineImageOut:
        """The image with every mask stored for it (all stages and states)."""
        return ctx.image_out(ctx.image(image_id))

    @router.post("/images/{image_id}/masks", response_model=MaskOut, status_code=201,
                 responses=error_responses(404, 409, 422, descriptions={
                     **_NO_IMAGE, 422: "A malformed mask, or one whose size is not the image's"}))
    def add_mask(image_id: IdPath, body: MaskIn) -> MaskOut:
        """Store an accepted mask with its effort; the same client_id again returns the stored mask."""
        ctx.image(image_id)
        try:
            row = ctx.store.add_mask(image_id, body.segmentation.model_dump(), stage=body.stage,
                                     round=ctx.watcher.served_round, source=f"annotator:{ctx.name(body.annotator)}",
                                     state="accepted", clicks=body.clicks, seconds=body.seconds,
                                     predicted_iou=body.predicted_iou, client_id=body.client_id)
        except InputError as e:
            raise HTTPException(422, f"mask rejected: {e}") from None
        if row.image_id != image_id:
            raise HTTPException(422, f"client_id {body.client_id!r} was already used for a mask of image {row.image_id}")
        return mask_out(row)

    return router
