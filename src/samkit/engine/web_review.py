"""Stage 3's spot checks: a queue of sampled automatic masks, each accepted or rejected by a reviewer.

The rejection rate (rejected / reviewed) is the project's estimate of how many automatic masks are
wrong; the page shows it after every verdict.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from samkit.engine.web_context import EngineContext
from samkit.engine.web_schemas import IdPath, ReviewItem, ReviewQueueOut, ReviewStatsOut, SampleIn, VerdictIn, mask_out
from samkit.errors import InputError
from samkit.serve.api_errors import error_responses


def review_router(ctx: EngineContext) -> APIRouter:
    router = APIRouter(prefix="/api/engine/review", tags=["engine: review"])

    def stats() -> ReviewStatsOut:
        s = ctx.store.review_stats()
        return ReviewStatsOut(reviewed=s["reviewed"], rejected=s["rejected"], rejection_rate=s["rejection_rate"],
                              queued=len(ctx.store.review_queue()), automatic_masks=len(ctx.store.masks(stage=3)))

    def queue() -> ReviewQueueOut:
        items = []
        for m in ctx.store.review_queue():
            row = ctx.store.image(m.image_id)
            if row.status == "ok":
                items.append(ReviewItem(mask=mask_out(m), image=ctx.image_out(row, with_masks=False)))
        return ReviewQueueOut(items=items, stats=stats())

    @router.get("", response_model=ReviewQueueOut)
    def get_queue() -> ReviewQueueOut:
        """The sampled masks waiting for a verdict, and the review statistics so far."""
        return queue()

    @router.post("/sample", response_model=ReviewQueueOut, responses=error_responses(422))
    def sample(body: SampleIn) -> ReviewQueueOut:
        """Add up to n random automatic masks not sampled before to the queue."""
        ctx.store.sample_for_review(body.n, seed=body.seed)
        return queue()

    @router.post("/masks/{mask_id}", response_model=ReviewStatsOut, responses=error_responses(404, 422, descriptions={
        404: "No mask with this id", 422: "A malformed verdict, or a mask that is not an automatic one"}))
    def verdict(mask_id: IdPath, body: VerdictIn) -> ReviewStatsOut:
        """Record accept/reject for a sampled mask (again: the verdict is replaced)."""
        if ctx.mask(mask_id).stage != 3:
            raise HTTPException(422, f"mask {mask_id} is not an automatic (stage 3) mask; only those are reviewed")
        try:
            ctx.store.record_review(mask_id, body.verdict, ctx.name(body.annotator))
        except InputError as e:
            raise HTTPException(422, str(e)) from None
        return stats()

    return router
