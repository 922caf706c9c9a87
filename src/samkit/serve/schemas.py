"""Request and response bodies of the annotator's HTTP API (see docs/serve-api.md / notes/web-api.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from samkit.serve.api_errors import ErrorOut  # noqa: F401 (the one error body; re-exported)


class ModelInfo(BaseModel):
    name: str
    img_size: int
    embedding_shape: list[int]  # [1, C, h, w]
    low_res_hw: list[int]  # [4h, 4w]: mask_input and low_res_masks
    mask_threshold: float
    decoder_url: str  # the ONNX decoder ("browser-onnx" mode; empty in "server" mode)
    decoder_ready: bool  # False while the decoder is still being exported (GET decoder_url waits)
    family: Literal["sam1", "sam2"] = "sam1"
    # browser-onnx: the page runs decoder_url on the fetched embedding (SAM 1);
    # server: the page POSTs prompts to decode_url and gets low-res logits back (SAM 2).
    decoder_mode: Literal["browser-onnx", "server"] = "browser-onnx"
    decode_url: str = "/api/images/{id}/decode"  # {id}: the image id
    # What the low-res logits cover: the longest-side-resized image padded to img_size (SAM 1), or the
    # whole image squashed to img_size x img_size (SAM 2). Decides how the page upscales them.
    low_res_frame: Literal["longest-side-padded", "whole-image"] = "longest-side-padded"


class DecodeRequest(BaseModel):
    """A prompt for POST /api/images/{id}/decode, in original-image pixels."""

    model_config = ConfigDict(allow_inf_nan=False)
    points: list[Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(default_factory=list)  # N x [x, y]
    labels: list[Literal[0, 1]] = Field(default_factory=list)  # N: 1 foreground, 0 background
    box: Annotated[list[float], Field(min_length=4, max_length=4)] | None = None  # [x0, y0, x1, y1]
    multimask_output: bool = True  # three masks (ambiguous prompts) or one
    mask_input_id: str | None = None  # X-Mask-Id of an earlier decode of this image: fed back as mask input
    mask_index: int = Field(0, ge=0)  # which of that decode's masks


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
    model_config = ConfigDict(allow_inf_nan=False)
    id: int | None = None
    category: str = Field(min_length=1, max_length=200)  # a name (not only spaces: checked on saving)
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


class AnnotationsPut(BaseModel):
    """PUT body with the version the edit started from (the same as sending it as If-Match)."""

    annotations: list[AnnotationIn]
    version: int | None = None  # ImageAnnotations.version read last; None: the last save wins


class ImageAnnotations(BaseModel):
    image: ImageRecord
    annotations: list[AnnotationOut]
    version: int  # +1 per save; send it back (If-Match or AnnotationsPut.version) to detect a lost update


class CocoExport(BaseModel):
    """COCO instances JSON (RLE segmentations; categories numbered 1.. in name order)."""

    info: dict
    licenses: list
    images: list[dict]
    categories: list[dict]
    annotations: list[dict]
