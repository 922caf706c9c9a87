"""The video endpoints of `samkit serve` (/api/videos/...), as a router that create_app includes.

Every endpoint documents its answers in the OpenAPI: binary ones with their media type (image/jpeg,
application/zip), errors with their status and {"detail": str} body. See video_service.py for what
each does and docs/serve-api.md for the list.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from samkit.serve.video_schemas import (
    ErrorOut, FrameMasks, InvalidRequestOut, PromptIn, PropagateIn, PropagationStatus, VideoRecord, VideoSession,
)
from samkit.serve.video_service import VideoService

_NOT_FOUND = {"model": ErrorOut, "description": "No such video, frame (index outside the video) or object"}
_CONFLICT = {"model": ErrorOut, "description": "Not possible now: the server's model is SAM 1 (video mode needs "
                                               "SAM 2), the video cannot be read, or it is being propagated"}
_INVALID = {"model": InvalidRequestOut, "description": "A malformed request, or a prompt that cannot be used"}
_UNREADABLE = {"model": ErrorOut, "description": "The video cannot be read"}


def video_router(service: VideoService) -> APIRouter:
    router = APIRouter(prefix="/api/videos", tags=["videos"])

    @router.get("", response_model=list[VideoRecord], summary="List the videos of the served folder")
    def list_videos() -> list[VideoRecord]:
        """Video files (.mp4, .mov, .avi, .webm, .mkv, .m4v) and folders of numbered JPEG/PNG frames."""
        return service.records()

    @router.get("/{video_id}", response_model=VideoSession, responses={404: _NOT_FOUND, 409: _UNREADABLE},
                summary="A video's objects, prompted and masked frames, and propagation")
    def get_session(video_id: str) -> VideoSession:
        return service.session(video_id)

    @router.get("/{video_id}/frames/{frame_idx}", response_class=Response,
                responses={200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                                 "description": "The frame as JPEG"},
                           404: _NOT_FOUND, 409: _UNREADABLE, 422: _INVALID},
                summary="A frame as JPEG, optionally downscaled")
    def get_frame(video_id: str, frame_idx: int,
                  max_side: int | None = Query(None, ge=16, le=16384,
                                               description="downscale: the longest side at most this")) -> Response:
        data = service.frame_jpeg(video_id, frame_idx, max_side)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})

    @router.get("/{video_id}/frames/{frame_idx}/masks", response_model=FrameMasks,
                responses={404: _NOT_FOUND, 409: _UNREADABLE}, summary="Every object's mask on a frame (COCO RLE)")
    def get_frame_masks(video_id: str, frame_idx: int) -> FrameMasks:
        return service.frame_masks(video_id, frame_idx)

    @router.post("/{video_id}/frames/{frame_idx}/prompts", response_model=FrameMasks,
                 responses={404: _NOT_FOUND, 409: _CONFLICT, 422: _INVALID},
                 summary="Clicks and/or a box for an object on a frame; the frame's masks")
    def post_prompt(video_id: str, frame_idx: int, prompt: PromptIn) -> FrameMasks:
        """The object's whole prompt on this frame (it replaces the previous one there); obj_id null
        adds a new object. Answers every object's mask on the frame; `obj_id` is the prompted object."""
        return service.add_prompt(video_id, frame_idx, prompt)

    @router.delete("/{video_id}/frames/{frame_idx}/prompts", response_model=FrameMasks,
                   responses={404: _NOT_FOUND, 409: _CONFLICT, 422: _INVALID},
                   summary="Remove the prompts on a frame (of one object, or of all)")
    def delete_prompts(video_id: str, frame_idx: int,
                       obj_id: int | None = Query(None, description="only this object's prompts")) -> FrameMasks:
        return service.clear_prompts(video_id, frame_idx, obj_id)

    @router.delete("/{video_id}/objects/{obj_id}", response_model=VideoSession,
                   responses={404: _NOT_FOUND, 409: _CONFLICT, 422: _INVALID},
                   summary="Remove an object: its prompts and its masks on every frame")
    def delete_object(video_id: str, obj_id: int) -> VideoSession:
        return service.remove_object(video_id, obj_id)

    @router.post("/{video_id}/propagate", response_model=PropagationStatus, status_code=202,
                 responses={404: _NOT_FOUND, 409: _CONFLICT, 422: _INVALID},
                 summary="Start tracking every object through the video (in the background)")
    def start_propagation(video_id: str, body: PropagateIn | None = None) -> PropagationStatus:
        """Each frame's masks are stored as soon as it is tracked; poll GET .../propagate for progress."""
        return service.propagate(video_id, body or PropagateIn())

    @router.get("/{video_id}/propagate", response_model=PropagationStatus,
                responses={404: _NOT_FOUND, 409: _UNREADABLE}, summary="Progress of the video's propagation")
    def propagation_status(video_id: str) -> PropagationStatus:
        return service.propagation(video_id)

    @router.delete("/{video_id}/propagate", response_model=PropagationStatus,
                   responses={404: _NOT_FOUND, 409: _UNREADABLE}, summary="Cancel a running propagation")
    def cancel_propagation(video_id: str) -> PropagationStatus:
        """Stops after the frame being tracked; the frames done so far keep their masks."""
        return service.cancel(video_id)

    @router.get("/{video_id}/export/davis.zip", response_class=FileResponse,
                responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                                 "description": "VIDEO/NAME.png per frame: DAVIS indexed PNGs, pixel = object id"},
                           404: _NOT_FOUND, 409: _UNREADABLE},
                summary="The video's masks in DAVIS format (zip)")
    def export_davis(video_id: str) -> FileResponse:
        path, name = service.export_zip(video_id)
        return FileResponse(path, media_type="application/zip", filename=name,
                            background=BackgroundTask(os.unlink, path))

    return router
