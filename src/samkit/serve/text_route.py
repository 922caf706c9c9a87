"""Text prompts in the annotator: the page sends a phrase, the server decodes it (docs/text-prompts.md).

The text tower runs on the server (the page's ONNX decoder has no text input), so a text prompt is
decoded here, with optional clicks/box, and answered in the layout of POST /api/images/{id}/decode:
K x 4h x 4w float16 low-res logits with the same headers, so the page upscales and draws it as any
server-decoded mask. GET /api/text_prompt tells the page whether the model has a text path and,
for a closed vocabulary (the built-in model), which names it knows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from samkit.builder_text import require_text_encoder
from samkit.errors import InputError
from samkit.serve.api_errors import binary_response, error_responses
from samkit.serve.server_decoder import FeaturesNotReady, ServerDecoder


class TextDecodeRequest(BaseModel):
    """A text prompt (plus optional clicks/box in original-image pixels) for POST .../decode_text."""

    model_config = ConfigDict(allow_inf_nan=False)
    text: str = Field(max_length=200)
    points: list[Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(default_factory=list)
    labels: list[Literal[0, 1]] = Field(default_factory=list)
    box: Annotated[list[float], Field(min_length=4, max_length=4)] | None = None
    multimask_output: bool = True


class TextPromptInfo(BaseModel):
    available: bool
    kind: str | None = None  # "word" (closed vocabulary) or "open_clip"
    vocabulary: list[str] = Field(default_factory=list)  # the names a "word" text path knows


def text_router(server_decoder: Callable[[], ServerDecoder], pixel_key_of: Callable[[str], str | None]) -> APIRouter:
    """server_decoder: gives the app's current ServerDecoder (it changes when the model is swapped);
    pixel_key_of: image id -> the pixel key of its cached features (HTTPException 404 if unknown)."""
    router = APIRouter()

    @router.get("/api/text_prompt", response_model=TextPromptInfo)
    def text_prompt_info() -> TextPromptInfo:
        enc = getattr(server_decoder().predictor.model, "text_encoder", None)
        if enc is None:
            return TextPromptInfo(available=False)
        vocab = list(getattr(enc.tokenizer, "phrases", ()))
        return TextPromptInfo(available=True, kind=enc.config.kind, vocabulary=vocab)

    @router.post("/api/images/{image_id}/decode_text", response_class=Response, responses={
        **binary_response("application/octet-stream", description="K x h x w float16 low-res mask logits, "
                          "as POST /api/images/{id}/decode"),
        **error_responses(404, 409, 422, descriptions={
            404: "No such image", 409: "The image is not encoded yet: POST ./embedding and poll its status",
            422: "An unknown word, empty text, a model without a text path, or a malformed prompt"})})
    def decode_text(image_id: str, prompt: TextDecodeRequest) -> Response:
        """Low-res mask logits for a text prompt on the encoded image (headers as /decode)."""
        key = pixel_key_of(image_id)
        try:
            require_text_encoder(server_decoder().predictor.model)  # SAM 2 / official checkpoints: 422
            out = server_decoder().decode(key, prompt.points, prompt.labels, prompt.box, prompt.multimask_output,
                                          text=prompt.text)
        except FeaturesNotReady:
            raise HTTPException(409, f"image {image_id} not encoded; POST /api/images/{image_id}/embedding "
                                     "and poll its status") from None
        except InputError as e:
            raise HTTPException(422, f"prompt rejected: {e}") from None
        return Response(out.low_res_f16, media_type="application/octet-stream", headers=out.http_headers())

    return router
