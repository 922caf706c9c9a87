"""Label Studio's ML backend protocol: the requests it sends, the answers it expects.

Shapes as Label Studio 1.23 sends them (label_studio/ml/api_connector.py):
- POST /setup  {"project": "<id>.<created unix time>", "schema": <labeling config XML>, "hostname":
  "http://localhost:8080", "access_token": "...", "extra_params": ...} -> {"model_version": "..."}
- POST /predict {"tasks": [{"id", "data": {...}}...], "project", "label_config", "params": {"login",
  "password", "context": null | {"result": [smart regions]}}} -> {"results": [{"result": [...],
  "score", "model_version"}, one per task]}. With a context it is an interactive call (one task):
  the regions the annotator drew with smart tools, all of them each time, so the clicks of one object
  are Label Studio's state, not ours. Keypoint and rectangle coordinates are percentages of
  original_width / original_height; a keypoint's `is_positive` is false for a negative click.
- POST /webhook {"action": "ANNOTATION_CREATED" | "ANNOTATION_UPDATED" | ..., "annotation", "task", "project"}
- GET /health -> {"status": "UP", "model_class": ...}
Errors: Label Studio shows a failed call as "<status> Client Error: <reason> for url: ...", i.e. it
shows the HTTP reason phrase, so the server puts the error's message there (app.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samkit.errors import InputError


@dataclass(frozen=True)
class SetupRequest:
    project_id: str  # the "<id>" of "<id>.<time>"
    label_config: str
    hostname: str | None
    access_token: str | None


@dataclass
class Prompts:
    """The smart regions of one interactive call, in original-image pixels."""

    points_xy: np.ndarray | None  # N x 2 (x, y)
    point_labels: np.ndarray | None  # N, 1 positive / 0 negative
    box_xyxy: np.ndarray | None  # (4,), the last rectangle drawn
    label: str | None  # the label the annotator chose on the smart tool
    original_hw: tuple[int, int] | None  # (H, W) Label Studio reports for the image

    @property
    def empty(self) -> bool:
        return self.points_xy is None and self.box_xyxy is None


def project_id(project: object) -> str:
    """"12.1700000000" (setup/predict) or {"id": 12, ...} (webhook) -> "12"."""
    if isinstance(project, dict):
        project = project.get("id")
    if project is None:
        return ""
    return str(project).split(".")[0]


def parse_setup(body: dict) -> SetupRequest:
    _require_dict(body, "/setup")
    schema = body.get("schema") or body.get("label_config")
    if not isinstance(schema, str):
        raise InputError("/setup needs the project's labeling config in \"schema\"")
    hostname, token = body.get("hostname"), body.get("access_token")
    return SetupRequest(project_id(body.get("project")), schema, hostname if isinstance(hostname, str) and hostname
                        else None, token if isinstance(token, str) and token else None)


def parse_context(context: object) -> Prompts | None:
    """params.context -> Prompts; None when the call is not interactive ("Retrieve predictions")."""
    if context is None:
        return None
    results = context.get("result") if isinstance(context, dict) else None
    if results is None:
        results = []
    if not isinstance(results, list):
        raise InputError("context.result must be a list of regions")
    points, labels, box, label, hw = [], [], None, None, None
    for region in results:
        if not isinstance(region, dict):
            raise InputError("context.result must hold region objects")
        kind = region.get("type")
        if kind not in ("keypointlabels", "rectanglelabels"):
            continue  # other regions (earlier masks, text) are not prompts
        value = region.get("value") or {}
        width, height = region.get("original_width"), region.get("original_height")
        if not all(isinstance(v, (int, float)) and v > 0 for v in (width, height)):
            raise InputError(f"a {kind} region has no original_width/original_height")
        hw = (int(height), int(width))
        try:
            x, y = float(value["x"]) / 100.0 * width, float(value["y"]) / 100.0 * height
        except (KeyError, TypeError, ValueError):
            raise InputError(f"a {kind} region has no numeric value.x/value.y") from None
        chosen = value.get(kind)
        if isinstance(chosen, list) and chosen:
            label = str(chosen[0])
        if kind == "keypointlabels":
            points.append((x, y))
            labels.append(0 if region.get("is_positive") is False else 1)
        else:
            try:
                w, h = float(value["width"]) / 100.0 * width, float(value["height"]) / 100.0 * height
            except (KeyError, TypeError, ValueError):
                raise InputError("a rectanglelabels region has no numeric value.width/value.height") from None
            box = np.array([x, y, x + w, y + h], dtype=np.float32)
    pts = np.asarray(points, dtype=np.float32) if points else None
    lab = np.asarray(labels, dtype=np.int64) if labels else None
    return Prompts(pts, lab, box, label, hw)


def parse_predict(body: dict) -> tuple[list[dict], str | None, Prompts | None, str]:
    """/predict body -> (tasks, labeling config or None, prompts or None, project id)."""
    _require_dict(body, "/predict")
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise InputError("/predict needs \"tasks\": a list of task objects")
    params = body.get("params") if isinstance(body.get("params"), dict) else {}
    config = body.get("label_config")
    return tasks, config if isinstance(config, str) else None, parse_context(params.get("context")), \
        project_id(body.get("project"))


def predictions_response(per_task: list[list[dict]], scores: list[float], model_version: str) -> dict:
    return {"results": [{"result": regions, "score": score, "model_version": model_version}
                        for regions, score in zip(per_task, scores)]}


def _require_dict(body: object, where: str) -> None:
    if not isinstance(body, dict):
        raise InputError(f"{where} expects a JSON object")
