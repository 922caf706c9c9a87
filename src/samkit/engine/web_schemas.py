"""Request and response bodies of the data engine's browser modes (/api/engine/..., see web_app.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from samkit.engine.store import ImageRow, MaskRow
from samkit.serve.schemas import Segmentation

# Request bodies take JSON types as the schema says (no "3" or true for 3); strict mode alone would
# also refuse 3.0, which JSON Schema counts as an integer.
STRICT = ConfigDict(strict=True)


def _whole_number(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


Int = Annotated[int, BeforeValidator(_whole_number)]
MAX_ID = 2**63 - 1  # SQLite's largest INTEGER
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]  # an image or mask id in the URL
Stage12 = Annotated[Literal[1, 2], BeforeValidator(_whole_number)]
# An annotator's name as masks record it ("annotator:<name>"): printable, no separators of its own.
AnnotatorName = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")


class MaskOut(BaseModel):
    id: int
    image_id: int
    stage: int
    round: int
    source: str  # "annotator:<name>" | "model:<round>"
    state: Literal["accepted", "proposed", "rejected"]
    segmentation: Segmentation  # COCO RLE, size [H, W]
    area: int
    bbox: list[float]  # x, y, w, h in original pixels
    clicks: int
    seconds: float
    predicted_iou: float | None
    stability: float | None
    version: int  # send it back as expected_version when changing the state


class EngineImageOut(BaseModel):
    id: int  # the engine project's image id
    annotator_image_id: str  # the id under /api/images/{id}/... (file, embedding, decoding)
    path: str  # relative to the images folder
    width: int
    height: int
    done_stages: list[int]
    masks: list[MaskOut]


class SessionOut(BaseModel):
    project: str
    images_folder: str
    annotator: str  # the server's default name (a page may send its own)
    stage: int  # the project's current stage (1 assisted, 2 semi-automatic, 3 automatic + review)
    round: int  # the project's newest round
    model_round: int  # the round of the model this server serves now (0: the starting model)
    images: int
    failed_images: int
    done_by_stage: dict[str, int]  # "1" / "2" / "3" -> images finished in that stage


class ClaimIn(BaseModel):
    model_config = STRICT
    annotator: str | None = AnnotatorName


class ClaimOut(BaseModel):
    image: EngineImageOut | None  # None: nothing left in this stage's queue
    remaining: int  # images not finished in this stage (including the one claimed)


class MaskIn(BaseModel):
    """A mask the annotator accepted, with the effort it took."""

    model_config = ConfigDict(allow_inf_nan=False, strict=True)
    segmentation: Segmentation
    stage: Stage12
    clicks: Int = Field(ge=0, le=100_000)  # prompts given for this object (points + boxes)
    seconds: float = Field(ge=0.0, le=86_400.0)  # from the first click on the object to accept
    predicted_iou: float | None = None
    client_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$")  # retries return the first row
    annotator: str | None = AnnotatorName


class MaskStateIn(BaseModel):
    model_config = STRICT
    state: Literal["accepted", "proposed", "rejected"]
    expected_version: Int = Field(ge=1, le=MAX_ID)  # MaskOut.version read last; another writer since -> 409


class MaskVersion(BaseModel):
    model_config = STRICT
    id: Int = Field(ge=1, le=MAX_ID)
    expected_version: Int = Field(ge=1, le=MAX_ID)


class FinishIn(BaseModel):
    model_config = STRICT
    stage: Stage12
    accept: list[MaskVersion] = Field(default_factory=list, max_length=10_000)  # proposals to accept (stage 2)
    annotator: str | None = AnnotatorName


class FinishOut(BaseModel):
    image_id: int
    accepted: int  # proposals accepted by this request


class ReviewStatsOut(BaseModel):
    reviewed: int
    rejected: int
    rejection_rate: float | None  # rejected / reviewed; None before the first review
    queued: int  # sampled and waiting for a verdict
    automatic_masks: int  # stage-3 masks in the project


class ReviewItem(BaseModel):
    mask: MaskOut
    image: EngineImageOut  # with no masks listed


class ReviewQueueOut(BaseModel):
    items: list[ReviewItem]
    stats: ReviewStatsOut


class SampleIn(BaseModel):
    model_config = STRICT
    n: Int = Field(20, ge=1, le=1000)
    seed: Int = Field(0, ge=0, le=2**31 - 1)


class VerdictIn(BaseModel):
    model_config = STRICT
    verdict: Literal["accept", "reject"]
    annotator: str | None = AnnotatorName


def mask_out(row: MaskRow) -> MaskOut:
    return MaskOut(id=row.id, image_id=row.image_id, stage=row.stage, round=row.round, source=row.source,
                   state=row.state, segmentation=Segmentation(size=list(row.rle["size"]), counts=row.rle["counts"]),
                   area=row.area, bbox=list(row.bbox_xywh), clicks=row.clicks, seconds=row.seconds,
                   predicted_iou=row.predicted_iou, stability=row.stability, version=row.version)


def image_out(row: ImageRow, annotator_image_id: str, masks: list[MaskRow]) -> EngineImageOut:
    return EngineImageOut(id=row.id, annotator_image_id=annotator_image_id, path=row.path, width=row.width,
                          height=row.height, done_stages=list(row.done_stages), masks=[mask_out(m) for m in masks])
