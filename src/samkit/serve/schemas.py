"""Request and response bodies of the annotator's HTTP API (see docs/serve-api.md / notes/web-api.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ModelInfo(BaseModel):
    name: str
    img_size: int
    embedding_shape: list[int]  # [1, C, h, w]
    low_res_hw: list[int]  # [4h, 4w]: mask_input and low_res_masks
    mask_threshold: float
    decoder_url: str
    decoder_ready: bool  # False while the decoder is still being exported (GET decoder_url waits)


class ImageRecord(BaseModel):
    id: str
    file_name: str
    width: int
    height: int
    num_annotations: int
    embedded: bool


class EncodingStatusOut(BaseModel):
    state: Literal["idle", "queued", "encoding", "ready", "error"]
    progress: float = Field(ge=0.0, le=1.0)
    error: str | None = None


class Segmentation(BaseModel):
    size: list[int] = Field(min_length=2, max_length=2)  # [H, W]
    counts: str  # COCO compressed RLE


class AnnotationIn(BaseModel):
    id: int | None = None
    category: str
    segmentation: Segmentation
    bbox: list[float] | None = None  # ignored: recomputed from the RLE
    area: int | float | None = None  # ignored: recomputed from the RLE
    predicted_iou: float | None = None
    created: str | None = None


class AnnotationOut(BaseModel):
    id: int
    category: str
    segmentation: Segmentation
    bbox: list[float]  # x, y, w, h in original pixels
    area: int
    predicted_iou: float | None
    created: str


class ImageAnnotations(BaseModel):
    image: ImageRecord
    annotations: list[AnnotationOut]
