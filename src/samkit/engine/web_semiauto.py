"""Stage 2, semi-automatic: the model's proposed masks count as accepted unless the annotator rejects them.

One click on a proposal rejects it (PATCH .../masks/{id} state=rejected; again: proposed), each
naming the version it saw, so two annotators never overwrite each other: the later one gets 409 and
reloads. "Next image" (POST .../finish) accepts the proposals still standing, each at the version
the page showed, then marks the image done in the stage; a conflict answers 409 and the image stays
in the queue (versions are checked before any change, so usually nothing was accepted either).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from samkit.engine.store import VersionConflict
from samkit.engine.web_context import EngineContext
from samkit.engine.web_schemas import IdPath, FinishIn, FinishOut, MaskOut, MaskStateIn, mask_out
from samkit.serve.api_errors import error_responses


def _conflict(e: VersionConflict, wanted: str) -> HTTPException:
    cur = e.current
    return HTTPException(409, f"mask {cur.id} was changed by another annotator (it is now {cur.state!r} at version "
                              f"{cur.version}); not made {wanted!r}: reload the image and decide again")


def semiauto_router(ctx: EngineContext) -> APIRouter:
    router = APIRouter(prefix="/api/engine", tags=["engine: semi-automatic"])

    @router.patch("/masks/{mask_id}", response_model=MaskOut, responses=error_responses(404, 409, 422, descriptions={
        404: "No mask with this id", 409: "Another annotator changed the mask since expected_version"}))
    def set_state(mask_id: IdPath, body: MaskStateIn) -> MaskOut:
        """Reject, restore or accept a mask, if it is still at the version the page saw."""
        ctx.mask(mask_id)
        try:
            return mask_out(ctx.store.set_mask_state(mask_id, body.state, expected_version=body.expected_version))
        except VersionConflict as e:
            raise _conflict(e, body.state) from None

    @router.post("/images/{image_id}/finish", response_model=FinishOut, responses=error_responses(
        404, 409, 422, descriptions={404: "No image (or mask) with this id",
                                     409: "A proposal changed since the page read it, or the image failed to decode"}))
    def finish(image_id: IdPath, body: FinishIn) -> FinishOut:
        """Accept the listed proposals (stage 2) and mark the image done in the stage."""
        ctx.image(image_id)
        masks = [ctx.mask(m.id) for m in body.accept]
        other = next((m for m in masks if m.image_id != image_id), None)
        if other is not None:
            raise HTTPException(422, f"mask {other.id} belongs to image {other.image_id}, not {image_id}")
        for m, want in zip(masks, body.accept):
            if m.state != "accepted" and m.version != want.expected_version:
                raise _conflict(VersionConflict(m), "accepted")
        accepted = 0
        for m, want in zip(masks, body.accept):
            if m.state == "accepted":
                continue  # already what was asked (a retried finish)
            try:
                ctx.store.set_mask_state(m.id, "accepted", expected_version=want.expected_version)
            except VersionConflict as e:
                raise _conflict(e, "accepted") from None
            accepted += 1
        ctx.store.finish_image(image_id, body.stage, ctx.name(body.annotator))
        return FinishOut(image_id=image_id, accepted=accepted)

    return router
