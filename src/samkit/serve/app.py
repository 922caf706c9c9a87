"""The annotator's web app: `create_app(folder, model)` returns a FastAPI application.

All state of a folder lives in FOLDER/.samkit/ (annotations.sqlite, embeddings/, models/, display/);
uploads are written into FOLDER itself. The page itself is the web bundle in `static_dir`
(src/samkit/serve/static/, built by `npm --prefix web run build`).

SAM 1 models are decoded in the page (an ONNX export of the decoder, fetched from DECODER_URL, runs
on the fetched embedding); SAM 2 models on the server (POST /api/images/{id}/decode, see
server_decoder.py), since their decoder needs the high-res features too. /api/model tells the page
which (`decoder_mode`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, File, Header, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from torch import nn

from samkit.errors import InputError
from samkit.inference.model_family import is_sam2_model
from samkit.serve.annotations import AnnotationError, annotation_from_request, annotation_json, coco_json, masks_zip
from samkit.serve.api_errors import binary_response, error_responses, install_error_handlers
from samkit.serve.decoder_file import DecoderFile, Sam2DecoderFile
from samkit.serve.embedding_service import EmbeddingService
from samkit.serve.image_folder import STATE_DIR, ImageFolder, UploadLimits, UploadRejected
from samkit.serve.schemas import (
    AnnotationIn, AnnotationOut, AnnotationsPut, CocoExport, DecodeRequest, EncodingStatusOut, ImageAnnotations,
    ImageRecord, ModelInfo,
)
from samkit.serve.server_decoder import FeaturesNotReady, ServerDecoder
from samkit.serve.static_files import mount_static
from samkit.serve.store import ImageRow, Store, VersionConflict
from samkit.serve.text_route import text_router
from samkit.serve.video_routes import video_router
from samkit.serve.video_service import VideoService

DEFAULT_STATIC_DIR = Path(__file__).resolve().parent / "static"
DECODER_URL = "/models/decoder.onnx"
# Multipart framing around the file: a request this much larger than the file limit is refused
# from its Content-Length before its body is read.
MULTIPART_SLACK = 64 * 1024
_NO_IMAGE = {404: "No image with this id, or its file is no longer in the folder"}
_ETAG = {"ETag": {"description": "The version of the image's annotation list, to send back as If-Match",
                  "schema": {"type": "string"}}}


def create_app(folder: str | os.PathLike, model: nn.Module, *, static_dir: str | os.PathLike | None = None,
               limits: UploadLimits = UploadLimits(), decoder_onnx: str | os.PathLike | None = None,
               quantize_decoder: bool = False, export_decoder_on_start: bool = True,
               state_dir: str | os.PathLike | None = None, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """folder: the images (created if missing); model: a samkit Sam or SAM2Base in eval mode.

    decoder_onnx: serve this ONNX decoder instead of exporting one. export_decoder_on_start: begin
    the export when the server starts (otherwise at the first request for it). Both are SAM 1 only:
    a SAM 2 model is decoded on the server.
    state_dir: where the folder's state lives (default FOLDER/.samkit; the data engine keeps it in its
    project so a read-only image folder works). routers: more API routes (the data engine's), matched
    before the page's catch-all. `app.state.swap_model(new_model)` serves another model of the same
    family from then on (the data engine adopts a retrained model without a restart).
    """
    sam2 = is_sam2_model(model)
    if sam2 and (decoder_onnx is not None or quantize_decoder):
        raise InputError("a SAM 2 model is decoded on the server: --decoder-onnx and --quantize-decoder are for "
                         "SAM 1 models")
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    state = Path(state_dir).resolve() if state_dir is not None else folder / STATE_DIR
    store = Store(state / "annotations.sqlite")
    images = ImageFolder(folder, store)
    images.display_dir = state / "display"
    decoder = None if sam2 else DecoderFile(model, state / "models", quantize=quantize_decoder,
                                            provided=Path(decoder_onnx) if decoder_onnx else None)
    # SAM 2 in the page (export/sam2_decoder_split.py): its split decoder, exported on first request.
    sam2_file = Sam2DecoderFile(model, state / "models") if sam2 else None

    def load_pixels(image_id: int):
        # Re-register first: if the file was edited since the last listing, its old pixel key is dropped.
        row = images.register(images.path_of(_row(image_id))) or _row(image_id)
        return images.pixels(row), row.pixel_key if _fresh(row) else None

    def _fresh(row: ImageRow) -> bool:
        st = images.path_of(row).stat()
        return row.file_size == st.st_size and row.mtime_ns == st.st_mtime_ns

    embeddings = EmbeddingService(model, state / "embeddings", load_pixels, on_pixel_key=store.set_pixel_key)
    server_decoder = ServerDecoder(model, embeddings)
    videos = VideoService(folder, state, model)  # video mode (/api/videos): video_service.py
    static = Path(static_dir or os.environ.get("SAMKIT_STATIC_DIR") or DEFAULT_STATIC_DIR)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        embeddings.start()
        if export_decoder_on_start and decoder is not None:
            decoder.start()
        yield
        embeddings.stop()
        videos.stop()
        for export in exports:  # every decoder export this app started, the swapped-out models' too
            export.join(timeout=300)

    exports = [f for f in (decoder, sam2_file) if f is not None]
    app = FastAPI(title="samkit annotator", lifespan=lifespan)
    install_error_handlers(app)  # one error body ({"detail": str}), Allow on every 405: api_errors.py
    app.state.folder, app.state.store, app.state.embeddings, app.state.decoder = folder, store, embeddings, decoder
    app.state.server_decoder = server_decoder
    app.state.sam2_decoder_file = sam2_file
    app.state.images = images

    def swap_model(new_model: nn.Module) -> None:
        # Rebinding the closure's names switches every route at once; the embedding cache is keyed by
        # the model, so images are re-encoded with the new one and never mixed with the old one's.
        nonlocal model, embeddings, server_decoder, decoder, sam2_file
        if is_sam2_model(new_model) != sam2:
            raise InputError("the new model must be of the served model's family (SAM 1 or SAM 2)")
        old = embeddings
        embeddings = EmbeddingService(new_model, state / "embeddings", load_pixels, on_pixel_key=store.set_pixel_key)
        server_decoder = ServerDecoder(new_model, embeddings)
        decoder = None if sam2 else DecoderFile(new_model, state / "models", quantize=quantize_decoder)
        sam2_file = Sam2DecoderFile(new_model, state / "models") if sam2 else None  # the page decodes the new heads
        exports.extend(f for f in (decoder, sam2_file) if f is not None)
        model = new_model
        app.state.embeddings, app.state.decoder, app.state.server_decoder = embeddings, decoder, server_decoder
        app.state.sam2_decoder_file = sam2_file
        old.stop(timeout=0)
        embeddings.start()
        if decoder is not None and export_decoder_on_start:
            decoder.start()

    app.state.swap_model = swap_model

    @app.middleware("http")
    async def isolation_and_upload_limit(request: Request, call_next):
        length = request.headers.get("content-length")
        if request.method == "POST" and request.url.path == "/api/images" and length and length.isdigit() \
                and int(length) > limits.max_bytes + MULTIPART_SLACK:
            response = JSONResponse({"detail": limits.bytes_message(int(length))}, status_code=413)
        else:
            response = await call_next(request)
        # Cross-origin isolation lets onnxruntime-web use threads (SharedArrayBuffer) in the page.
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Embedder-Policy"] = "require-corp"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    def _row(image_id: int | str) -> ImageRow:
        try:
            row = store.image(int(image_id))
        except (TypeError, ValueError):
            row = None
        if row is None:
            raise HTTPException(404, f"no image with id {image_id!r}")
        try:
            if not images.path_of(row).is_file():
                raise FileNotFoundError
        except FileNotFoundError:
            raise HTTPException(404, f"image file {row.file_name} is no longer in the folder") from None
        return row

    def _record(row: ImageRow, counts: dict[int, int] | None = None) -> ImageRecord:
        counts = counts if counts is not None else store.annotation_counts()
        key = row.pixel_key if _fresh(row) else None
        return ImageRecord(id=str(row.id), file_name=row.file_name, width=row.width, height=row.height,
                           num_annotations=counts.get(row.id, 0), embedded=embeddings.is_cached(key))

    def _status(row: ImageRow) -> EncodingStatusOut:
        st = embeddings.status(row.id, row.pixel_key if _fresh(row) else None)
        return EncodingStatusOut(**st.as_dict())

    # ------------------------------------------------------------------ model
    @app.get("/api/model", response_model=ModelInfo)
    def get_model() -> ModelInfo:
        cfg = getattr(model, "config", None)
        name = getattr(cfg, "name", "custom")
        if sam2:
            pe = model.sam_prompt_encoder
            h, w = (int(s) for s in pe.image_embedding_size)
            return ModelInfo(name=name, img_size=int(model.image_size), embedding_shape=[1, int(pe.embed_dim), h, w],
                             low_res_hw=[4 * h, 4 * w], mask_threshold=float(server_decoder.predictor.mask_threshold),
                             decoder_url="", decoder_ready=True, family="sam2", decoder_mode="server",
                             low_res_frame="whole-image")
        pe = model.prompt_encoder
        h, w = (int(s) for s in pe.image_embedding_size)
        return ModelInfo(name=name, img_size=int(model.image_encoder.img_size),
                         embedding_shape=[1, int(pe.embed_dim), h, w], low_res_hw=[4 * h, 4 * w],
                         mask_threshold=float(model.mask_threshold), decoder_url=DECODER_URL,
                         decoder_ready=decoder.ready)

    @app.get(DECODER_URL, response_class=FileResponse,
             responses={**binary_response("application/octet-stream", description="The ONNX decoder (SAM 1)"),
                        **error_responses(404, 503, descriptions={
                            404: "The model is SAM 2: it is decoded on the server",
                            503: "The decoder export failed or is still running"})})
    def get_decoder() -> FileResponse:
        if decoder is None:
            raise HTTPException(404, "this model (SAM 2) has no browser decoder: POST prompts to "
                                     "/api/images/{id}/decode")
        try:
            path = decoder.wait(timeout=600)
        except RuntimeError as e:
            raise HTTPException(503, str(e)) from None
        return FileResponse(path, media_type="application/octet-stream", headers={"Cache-Control": "no-cache"})

    # The page's fast decoders, two graphs each: a once-per-image graph and a per-click graph. SAM 1's
    # (export/decoder_split.py) sits beside DECODER_URL; 404 when there is none (SAM 2, or --decoder-onnx),
    # and the page then runs DECODER_URL. SAM 2's (export/sam2_decoder_split.py) is exported on first
    # request; until it and the image's features (GET .../features) load, or if they fail, the page
    # decodes on the server (POST .../decode).
    def sam1_split_paths() -> list[Path]:
        if decoder is None:
            raise HTTPException(404, "this model (SAM 2) has no split browser decoder")
        try:
            return decoder.wait_split(timeout=600)
        except RuntimeError as e:
            raise HTTPException(404 if decoder.split_error else 503, str(e)) from None

    def sam2_split_paths() -> list[Path]:
        if sam2_file is None:
            raise HTTPException(404, "this model is SAM 1: its page decoder is at " + DECODER_URL)
        try:
            return sam2_file.wait(timeout=600)
        except RuntimeError as e:
            raise HTTPException(404 if sam2_file.error else 503, str(e)) from None

    def split_graph_route(index: int, split_paths):
        """GET handler for graph `index` (0 image, 1 prompt) of the files split_paths() returns."""
        def get_split_graph() -> FileResponse:
            return FileResponse(split_paths()[index], media_type="application/octet-stream",
                                headers={"Cache-Control": "no-cache"})
        return get_split_graph

    for family, split_paths, url_stem, what in (("", sam1_split_paths, "decoder", "The split decoder's"),
                                                ("sam2_", sam2_split_paths, "sam2-decoder", "SAM 2's split decoder,")):
        for index, part in enumerate(("image", "prompt")):
            app.get(f"/models/{url_stem}-{part}.onnx", response_class=FileResponse, name=f"get_{family}decoder_{part}",
                    responses={**binary_response("application/octet-stream", description=f"{what} {part} graph"),
                               **error_responses(404, 503)})(split_graph_route(index, split_paths))

    @app.get("/api/images/{image_id}/features", response_class=Response, responses={
        **binary_response("application/octet-stream", description="SAM 2: image_embed, high_res_feats[0], "
                          "high_res_feats[1], float16, C-order, concatenated; shapes in X-Feature-Shapes (a;b;c)"),
        **error_responses(404, 409, 422, descriptions={**_NO_IMAGE, 409: "Not encoded yet, or not a SAM 2 model "
                                                                         "with high-res features"})})
    def get_features(image_id: str) -> Response:
        row = _row(image_id)
        found = embeddings.sam2_features_f16(row.pixel_key if _fresh(row) else None)
        if found is None:
            raise HTTPException(409, "no SAM 2 features for this image: the model is not SAM 2 with high-res "
                                     f"features, or the image is not encoded (POST /api/images/{row.id}/embedding)")
        data, shapes = found
        return Response(data, media_type="application/octet-stream", headers={
            "X-Feature-Shapes": ";".join(",".join(str(s) for s in shape) for shape in shapes), "X-Feature-Dtype": "float16",
            "Access-Control-Expose-Headers": "X-Feature-Shapes"})

    # ------------------------------------------------------------------ images
    @app.get("/api/images", response_model=list[ImageRecord])
    def list_images() -> list[ImageRecord]:
        counts = store.annotation_counts()
        return [_record(row, counts) for row in images.scan()]

    @app.post("/api/images", response_model=ImageRecord, responses=error_responses(
        409, 413, 415, 422, descriptions={409: "Too many files of this name in the folder"}))
    def upload_image(file: UploadFile = File(...)) -> ImageRecord:
        data = file.file.read(limits.max_bytes + 1)
        try:
            row = images.add_upload(file.filename or "upload", data, limits)
        except UploadRejected as e:
            raise HTTPException(e.status, str(e)) from None
        return _record(row)

    @app.get("/api/images/{image_id}/file", response_class=FileResponse, responses={
        **binary_response("image/jpeg", "image/png", "image/webp", description="The image as the browser shows it "
                          "(re-encoded as PNG when the file is not JPEG/PNG/WebP, or is EXIF-rotated or 16-bit)"),
        **error_responses(404, 409, descriptions={**_NO_IMAGE, 409: "The image file cannot be read"})})
    def image_file(image_id: str) -> FileResponse:
        row = _row(image_id)
        try:
            path, media_type = images.display_file(row)
        except (InputError, OSError, SyntaxError, ValueError) as e:
            raise HTTPException(409, f"image {row.file_name} cannot be read: {e}") from None
        return FileResponse(path, media_type=media_type)

    # ------------------------------------------------------------------ embeddings
    @app.post("/api/images/{image_id}/embedding", response_model=EncodingStatusOut,
              responses=error_responses(404, 422, descriptions=_NO_IMAGE))
    def start_embedding(image_id: str) -> EncodingStatusOut:
        row = _row(image_id)
        st = embeddings.request(row.id, row.pixel_key if _fresh(row) else None)
        return EncodingStatusOut(**st.as_dict())

    @app.get("/api/images/{image_id}/embedding/status", response_model=EncodingStatusOut,
             responses=error_responses(404, 422, descriptions=_NO_IMAGE))
    def embedding_status(image_id: str) -> EncodingStatusOut:
        return _status(_row(image_id))

    @app.get("/api/images/{image_id}/embedding", response_class=Response, responses={
        **binary_response("application/octet-stream", description="The image embedding: float16, C-order, shape in "
                          "the X-Embedding-Shape header (1,C,h,w)"),
        **error_responses(404, 409, 422, descriptions={**_NO_IMAGE, 409: "Not encoded yet: POST .../embedding "
                                                                         "and poll its status"})})
    def get_embedding(image_id: str) -> Response:
        row = _row(image_id)
        found = embeddings.embedding_f16(row.pixel_key if _fresh(row) else None)
        if found is None:
            st = _status(row)
            raise HTTPException(409, f"embedding not ready (state {st.state}); POST /api/images/{row.id}/embedding "
                                     "and poll its status")
        data, shape = found
        return Response(data, media_type="application/octet-stream",
                        headers={"X-Embedding-Shape": ",".join(str(s) for s in shape),
                                 "X-Embedding-Dtype": "float16", "Access-Control-Expose-Headers": "X-Embedding-Shape"})

    @app.post("/api/images/{image_id}/decode", response_class=Response, responses={
        **binary_response("application/octet-stream", description="K x h x w float16 low-res mask logits "
                          "(X-Mask-Shape, X-Iou-Predictions, X-Mask-Id headers)"),
        **error_responses(404, 409, 422, descriptions={
            **_NO_IMAGE, 409: "The image is not encoded yet: POST ./embedding and poll its status",
            422: "A malformed prompt, or one that cannot be used (empty, outside the image, unknown mask id)"})})
    def decode(image_id: str, prompt: DecodeRequest) -> Response:
        """Low-res mask logits for a prompt on the encoded image: K x h x w float16 (X-Mask-Shape),
        predicted IoUs (X-Iou-Predictions), and an id to feed these logits back (X-Mask-Id)."""
        row = _row(image_id)
        try:
            out = server_decoder.decode(row.pixel_key if _fresh(row) else None, prompt.points, prompt.labels,
                                        prompt.box, prompt.multimask_output, prompt.mask_input_id, prompt.mask_index)
        except FeaturesNotReady:
            st = _status(row)
            raise HTTPException(409, f"image not encoded (state {st.state}); POST /api/images/{row.id}/embedding "
                                     "and poll its status") from None
        except InputError as e:
            raise HTTPException(422, f"prompt rejected: {e}") from None
        return Response(out.low_res_f16, media_type="application/octet-stream", headers=out.http_headers())

    # ------------------------------------------------------------------ annotations
    @app.get("/api/images/{image_id}/annotations", response_model=ImageAnnotations,
             responses={200: {"headers": _ETAG}, **error_responses(404, 422, descriptions=_NO_IMAGE)})
    def get_annotations(image_id: str, response: Response) -> dict:
        row = _row(image_id)
        version = store.annotations_version(row.id)
        response.headers["ETag"] = f'"{version}"'
        return {"image": _record(row), "annotations": [annotation_json(a) for a in store.annotations(row.id)],
                "version": version}

    @app.put("/api/images/{image_id}/annotations", response_model=list[AnnotationOut], responses={
        200: {"headers": _ETAG}, **error_responses(404, 409, 422, descriptions={
            **_NO_IMAGE, 409: "Another client saved this image's annotations since the version sent "
                              "(If-Match or `version`): read them again and merge",
            422: "A malformed body, or an annotation that does not fit the image"})})
    def put_annotations(image_id: str, body: list[AnnotationIn] | AnnotationsPut, response: Response,
                        if_match: str | None = Header(None, description='The ETag of the list this edit started '
                                                      'from ("3"); a save over a newer list answers 409')) -> list[dict]:
        """Replace the image's whole annotation list. Send the version read last (If-Match, or `version`
        in the body) so a save never overwrites another client's unseen one; without it, the last save wins."""
        row = _row(image_id)
        items = body.annotations if isinstance(body, AnnotationsPut) else body
        expected = _expected_version(if_match, body.version if isinstance(body, AnnotationsPut) else None)
        try:
            rows = [annotation_from_request(item.model_dump(), row) for item in items]
        except (AnnotationError, TypeError, ValueError) as e:
            raise HTTPException(422, f"annotation rejected: {e}") from None
        try:
            saved, version = store.replace_annotations(row.id, rows, expected_version=expected)
        except VersionConflict as e:
            raise HTTPException(409, f"the annotations of {row.file_name} were saved by another client since "
                                     f"version {expected} (they are at version {e.current}): read them again, "
                                     "merge your edits and save") from None
        response.headers["ETag"] = f'"{version}"'
        return [annotation_json(a) for a in saved]

    # ------------------------------------------------------------------ export
    def _present_images() -> list[ImageRow]:
        return images.scan()  # files that are gone are left out; their annotations stay stored

    @app.get("/api/export/coco", response_model=CocoExport, response_class=JSONResponse)
    def export_coco() -> JSONResponse:
        return JSONResponse(coco_json(_present_images(), store.annotations()),
                            headers={"Content-Disposition": 'attachment; filename="annotations.json"'})

    @app.get("/api/export/masks.zip", response_class=Response, responses=binary_response(
        "application/zip", description="One 0/255 PNG per annotation (IMAGE_STEM/ID_CATEGORY.png) and annotations.json"))
    def export_masks() -> Response:
        return Response(masks_zip(_present_images(), store.annotations()), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="masks.zip"'})

    def _expected_version(if_match: str | None, in_body: int | None) -> int | None:
        if if_match is None or if_match.strip() == "*":
            return in_body
        tag = if_match.strip().removeprefix("W/").strip('"')
        if not tag.isdigit():
            raise HTTPException(422, f"If-Match must be the ETag of GET .../annotations (e.g. \"3\"), got {if_match!r}")
        return int(tag)

    app.state.videos = videos
    app.include_router(video_router(videos))
    # Text prompts (text_route.py): decoded here, since the page's ONNX decoder has no text input.
    app.include_router(text_router(lambda: server_decoder,
                                   lambda image_id: (lambda row: row.pixel_key if _fresh(row) else None)(_row(image_id))))
    for router in routers:
        app.include_router(router)
    mount_static(app, static)
    return app
