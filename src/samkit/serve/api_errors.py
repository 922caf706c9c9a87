"""One error body for every answer of `samkit serve` that is not a success, and its OpenAPI entries.

Every 4xx/5xx the server sends is `{"detail": str}` (ErrorOut): a message of samkit's own that names
what was wrong. FastAPI's defaults are replaced where they differ: a malformed request (422) gets one
line built from the validation errors (the errors themselves ride along in `errors`), and a 405
carries an `Allow` header listing every method of the path, not only those of the first route that
matched it (Starlette's default). `error_responses(...)` documents the codes an endpoint can answer.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

# What each status means on this API (the OpenAPI description of an error answer).
DEFAULT_DESCRIPTIONS = {
    400: "The request body cannot be parsed",
    404: "No such image, video, frame or object",
    409: "Not possible in the current state",
    413: "The upload is over the server's size limit (samkit serve --max-upload-mb / --max-megapixels)",
    415: "The upload is not an image samkit can read",
    422: "A malformed request, or values that cannot be used",
    503: "Not available yet",
}


class FieldError(BaseModel):
    loc: list[str | int]  # where: ["body", "points", 0], ["query", "max_side"], ...
    msg: str


class ErrorOut(BaseModel):
    """What every error answer of samkit serve carries: a message naming what was wrong."""

    detail: str
    errors: list[FieldError] | None = None  # 422 for a malformed request: each problem and where


def error_responses(*codes: int, descriptions: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for these error codes; descriptions: this endpoint's own wording."""
    descriptions = descriptions or {}
    return {code: {"model": ErrorOut, "description": descriptions.get(code, DEFAULT_DESCRIPTIONS[code])}
            for code in codes}


def binary_response(*media_types: str, description: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entry of a 200 answer whose body is a file (not JSON)."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"content": {m: {"schema": schema} for m in media_types}, "description": description}}


def validation_message(errors: list[dict[str, Any]]) -> str:
    """FastAPI's validation errors as one line: 'body.points.0: Input should be a valid list; ...'."""
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid")))
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the app answers on this path, from its OpenAPI (what clients are told), HEAD with GET.

    Paths outside the OpenAPI under /api/ and /models/ have none (404); any other path is a file of
    the web bundle (GET).
    """
    table = getattr(app.state, "allowed_methods_table", None)
    if table is None:  # built once: the routes do not change after startup
        table = []
        for template, ops in app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{pattern}$"), {m.upper() for m in ops}))
        app.state.allowed_methods_table = table
    methods: set[str] = set()
    for regex, ops in table:
        if regex.match(path):
            methods |= ops
    if not methods and not path.startswith(("/api/", "/models/")) and path not in ("/api", "/models"):
        methods = {"GET"}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """The handlers above, and an OpenAPI whose default 422 entries describe ErrorOut (what is sent)."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build_openapi()
            for ops in spec.get("paths", {}).values():
                for op in ops.values():
                    if "requestBody" in op and "400" not in op.get("responses", {}):  # see http_error
                        op.setdefault("responses", {})["400"] = {"description": DEFAULT_DESCRIPTIONS[400], "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
                    answer = op.get("responses", {}).get("422")
                    if answer and "HTTPValidationError" in str(answer):
                        op["responses"]["422"] = {"description": DEFAULT_DESCRIPTIONS[422], "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            schemas.setdefault("ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}"))
            for name, sub in schemas["ErrorOut"].pop("$defs", {}).items():
                schemas.setdefault(name, sub)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        status, detail = exc.status_code, exc.detail
        if status == 405:
            allow = allowed_methods(app, request.url.path)
            if not allow:
                status, detail, headers = 404, f"no endpoint {request.url.path}", {}
            else:
                headers["Allow"] = ", ".join(allow)
                detail = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allow)}"
        elif status == 400 and detail == "There was an error parsing the body":
            detail = "the request body cannot be parsed (send JSON with Content-Type: application/json)"
        return JSONResponse({"detail": str(detail)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ()) if not _is_union_tag(p)],
                   "msg": _printable(str(e.get("msg", "invalid"))), "type": e.get("type", "")} for e in exc.errors()]
        # A body that may be one of several forms (a list or an object) fails each: report the form it
        # was, not "should be a valid list" for the other.
        specific = [e for e in errors if e["type"] not in _WRONG_FORM]
        errors = [{"loc": e["loc"], "msg": e["msg"]} for e in (specific or errors)]
        return JSONResponse({"detail": validation_message(errors), "errors": errors}, status_code=422)


_WRONG_FORM = {"list_type", "dict_type", "model_type", "model_attributes_type"}


def _is_union_tag(part: object) -> bool:
    """pydantic's name of a union member in an error location ('list[AnnotationIn]', 'AnnotationsPut')."""
    return isinstance(part, str) and (("[" in part) or part[:1].isupper())


def _printable(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)
