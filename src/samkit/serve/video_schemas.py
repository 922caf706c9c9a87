"""Request and response bodies of the annotator's video endpoints (/api/videos/..., docs/serve-api.md).

Coordinates are video pixels (x right, y down, the frame's original size); frame indices count from
0; object ids are the DAVIS labels the export writes (1..255).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from samkit.serve.api_errors import ErrorOut  # noqa: F401 (the video routes import it from here)


# Every error answer of samkit serve has one body (api_errors.py); 422s are that body too.
InvalidRequestOut = ErrorOut


class VideoRecord(BaseModel):
    id: str  # stable: derived from the path relative to the served folder
    name: str  # path relative to the served folder ('/'-separated; '.' is the folder itself)
    kind: Literal["file", "frames"]  # a video file (MP4, MOV, AVI, WebM, ...) or a folder of JPEG/PNG frames
    num_frames: int
    width: int  # frame size in pixels (0 when the video cannot be read)
    height: int
    num_objects: int
    num_masked_frames: int  # frames with stored masks (prompted or tracked)
    error: str | None = None  # why the video cannot be read (then every other endpoint answers 409)


class PromptIn(BaseModel):
    """Clicks and/or a box for one object on one frame: the object's whole prompt on that frame
    (it replaces the previous one, as the image annotator sends its whole prompt every time)."""

    obj_id: int | None = None  # None: a new object (the server picks the next free id)
    points: list[list[float]] = Field(default_factory=list)  # N x [x, y], video pixels
    labels: list[int] = Field(default_factory=list)  # N: 1 foreground, 0 background
    box: list[float] | None = None  # [x0, y0, x1, y1], video pixels


class FramePrompt(BaseModel):
    obj_id: int
    frame_idx: int
    points: list[list[float]]
    labels: list[int]
    box: list[float] | None


class Segmentation(BaseModel):
    size: list[int] = Field(min_length=2, max_length=2)  # [H, W]
    counts: str  # COCO compressed RLE (the image annotator's format)


class ObjectMask(BaseModel):
    obj_id: int
    area: int  # pixels
    bbox: list[float]  # [x, y, w, h] in pixels ([0, 0, 0, 0] when empty)
    segmentation: Segmentation


class FrameMasks(BaseModel):
    """Every object's mask on one frame (objects do not overlap: each pixel has one label, as in the
    DAVIS export), and the prompts given on that frame."""

    frame_idx: int
    width: int
    height: int
    source: Literal["none", "prompted", "tracked"]  # none: no mask stored for this frame yet
    obj_id: int | None = None  # the object a prompt request added or refined
    objects: list[ObjectMask]
    prompts: list[FramePrompt]


class PropagateIn(BaseModel):
    # both: forward from start to the last frame, then backward from start to frame 0.
    direction: Literal["both", "forward", "backward"] = "both"
    start_frame_idx: int | None = None  # None: the earliest prompted frame


class PropagationStatus(BaseModel):
    state: Literal["idle", "running", "done", "cancelled", "error"]
    direction: Literal["both", "forward", "backward"] | None = None
    start_frame_idx: int | None = None
    frames_done: int = 0
    frames_total: int = 0
    progress: float = Field(0.0, ge=0.0, le=1.0)
    current_frame_idx: int | None = None  # the frame written last
    error: str | None = None


class VideoObject(BaseModel):
    obj_id: int
    prompted_frames: list[int]


class VideoSession(BaseModel):
    """One video's annotation state: its objects, which frames have prompts or stored masks, and the
    propagation job."""

    video: VideoRecord
    objects: list[VideoObject]
    prompted_frames: list[int]
    masked_frames: list[int]
    propagation: PropagationStatus
