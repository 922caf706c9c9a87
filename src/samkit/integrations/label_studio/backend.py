"""What the backend does for each protocol call, independent of HTTP (app.py serves it).

State: per Label Studio project, the labeling config and the hostname + access token from its last
/setup (Label Studio re-sends /setup whenever it checks the model, e.g. on opening a task); the
segmenter (model, predictor, embedding cache); the dataset writer for submitted annotations.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from samkit.errors import InputError
from samkit.integrations.label_studio.dataset_writer import DatasetWriter
from samkit.integrations.label_studio.image_fetch import LabelStudioAccess, fetch_bytes, fetch_image
from samkit.integrations.label_studio.labeling_config import (LabelingConfig, VideoConfig, parse_labeling_config,
                                                              parse_project_config)
from samkit.integrations.label_studio.protocol import (Prompts, parse_predict, parse_setup, predictions_response,
                                                       project_id)
from samkit.integrations.label_studio.regions import mask_regions
from samkit.integrations.label_studio.segmenter import Segmenter
from samkit.integrations.label_studio.video_tracking import (VideoTracker, keyframe_prompts, mask_box_pct,
                                                             parse_video_context)


@dataclass
class ProjectState:
    config: LabelingConfig | VideoConfig
    access: LabelStudioAccess | None


class LabelStudioBackend:
    def __init__(self, segmenter: Segmenter, writer: DatasetWriter, model_version: str,
                 access_override: LabelStudioAccess | None = None, video_max_frames: int = 30) -> None:
        self.segmenter = segmenter
        self.tracker = VideoTracker(segmenter.model, video_max_frames)
        self.writer = writer
        self.model_version = model_version
        self.access_override = access_override  # --label-studio-url / --api-key win over /setup
        self._projects: dict[str, ProjectState] = {}
        self._last_access: LabelStudioAccess | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ protocol calls
    def health(self) -> dict:
        return {"status": "UP", "model_class": "samkit", "model_version": self.model_version}

    def setup(self, body: dict) -> dict:
        request = parse_setup(body)
        config = parse_project_config(request.label_config)  # a config samkit cannot serve fails here
        access = (LabelStudioAccess(request.hostname, request.access_token)
                  if request.hostname and request.access_token else None)
        with self._lock:
            self._projects[request.project_id] = ProjectState(config, access)
            if access is not None:
                self._last_access = access
        return {"model_version": self.model_version}

    def predict(self, body: dict) -> dict:
        if not isinstance(body, dict):
            raise InputError("/predict expects a JSON object")
        params = body.get("params") if isinstance(body.get("params"), dict) else {}
        state = self._projects.get(project_id(body.get("project")))
        config_xml = body.get("label_config")
        config = parse_project_config(config_xml) if isinstance(config_xml, str) else (state.config if state else None)
        if isinstance(config, VideoConfig):
            return self._video(body, config, params.get("context"))
        tasks, _, prompts, pid = parse_predict(body)
        if config is None:
            raise InputError("/predict without a label_config, and Label Studio has not sent /setup for this project")
        access = self._access(pid)
        if prompts is not None:
            if len(tasks) != 1:
                raise InputError(f"an interactive call carries one task, got {len(tasks)}")
            regions, score = self._interactive(tasks[0], config, prompts, access)
            return predictions_response([regions], [score], self.model_version)
        per_task, scores = [], []
        for task in tasks:
            regions, score = self._automatic(task, config, access)
            per_task.append(regions)
            scores.append(score)
        return predictions_response(per_task, scores, self.model_version)

    def webhook(self, body: dict) -> dict:
        if not isinstance(body, dict):
            raise InputError("/webhook expects a JSON object")
        pid = project_id(body.get("project"))
        state = self._projects.get(pid)
        config = state.config if state else None
        project = body.get("project")
        if isinstance(config, VideoConfig):
            config = None  # submitted video boxes are not a segmentation dataset
        if config is None and isinstance(project, dict) and isinstance(project.get("label_config"), str):
            try:
                config = parse_labeling_config(project["label_config"])
            except InputError:
                config = None  # a project samkit does not segment may still send webhooks
        access = self._access(pid)
        return self.writer.handle(body, lambda url: fetch_image(url, access),
                                  config.image_field if config else None)

    # ------------------------------------------------------------------ internals
    def _access(self, pid: str) -> LabelStudioAccess | None:
        if self.access_override is not None:
            return self.access_override
        state = self._projects.get(pid)
        return state.access if state and state.access else self._last_access

    def _image_url(self, task: dict, config: LabelingConfig) -> str:
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        url = data.get(config.image_field)
        if not isinstance(url, str) or not url:
            raise InputError(f"task {task.get('id')} has no \"{config.image_field}\" field with an image URL "
                             f"(the labeling config's <Image value=\"${config.image_field}\">)")
        return url

    def _interactive(self, task: dict, config: LabelingConfig, prompts: Prompts,
                     access: LabelStudioAccess | None) -> tuple[list[dict], float]:
        if prompts.empty:
            return [], 0.0
        url = self._image_url(task, config)
        label = config.output_label(prompts.label)
        key = f"{access.hostname if access else ''}|{url}"
        result = self.segmenter.segment(key, lambda: fetch_image(url, access).pixels, prompts.points_xy,
                                        prompts.point_labels, prompts.box_xyxy)
        if prompts.original_hw is not None and prompts.original_hw != result.mask_hw.shape:
            raise InputError(f"Label Studio shows the image as {prompts.original_hw[1]} x {prompts.original_hw[0]} "
                             f"but {url} is {result.mask_hw.shape[1]} x {result.mask_hw.shape[0]}")
        return mask_regions(config, result.mask_hw, label, result.score), result.score

    def _automatic(self, task: dict, config: LabelingConfig, access: LabelStudioAccess | None) -> tuple[list[dict], float]:
        url = self._image_url(task, config)
        pixels = fetch_image(url, access).pixels
        label = config.output_label(None)
        regions, scores = [], []
        for mask, score in self.segmenter.automatic_masks(url, pixels):
            regions.extend(mask_regions(config, mask, label, score))
            scores.append(score)
        return regions, (sum(scores) / len(scores) if scores else 0.0)

    def _video(self, body: dict, config: VideoConfig, context: object) -> dict:
        """A VideoRectangle drawn on some frames -> the same region with tracked boxes on the next frames."""
        tasks, _, _, pid = parse_predict({**body, "params": {}})
        ctx = parse_video_context(context)
        if ctx is None:  # Retrieve predictions on videos: nothing to track from
            return predictions_response([[] for _ in tasks], [0.0 for _ in tasks], self.model_version)
        if len(tasks) != 1:
            raise InputError(f"an interactive call carries one task, got {len(tasks)}")
        data = tasks[0].get("data") if isinstance(tasks[0].get("data"), dict) else {}
        url = data.get(config.video_field)
        if not isinstance(url, str) or not url:
            raise InputError(f"task {tasks[0].get('id')} has no \"{config.video_field}\" field with a video URL")
        video = fetch_bytes(url, self._access(pid))
        from samkit.video.open_frames import open_frame_source

        source = open_frame_source(video, 64)  # only to read the frame size the percent boxes refer to
        hw = (int(source.video_height), int(source.video_width))
        _, masks = self.tracker.track(video, keyframe_prompts(ctx, hw))
        tracked = []
        for frame_idx in sorted(masks):
            box = mask_box_pct(masks[frame_idx])
            if box is not None:
                tracked.append({"frame": frame_idx + 1, "enabled": True, "rotation": 0,
                                "time": frame_idx * ctx.duration_s / ctx.frames_count, **box})
        value = {"framesCount": ctx.frames_count, "duration": ctx.duration_s, "sequence": ctx.sequence + tracked}
        if ctx.labels:
            value["labels"] = ctx.labels
        region = {"id": ctx.region_id, "from_name": config.box_name, "to_name": config.video_name,
                  "type": "videorectangle", "origin": "prediction", "value": value}
        return predictions_response([[region]], [1.0], self.model_version)
