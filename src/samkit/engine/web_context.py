"""What the engine's routes share: the project, the server's annotator name, the annotator app's
image folder (to map engine image ids to the ids the page encodes and decodes under) and the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException

from samkit.engine.project import EngineProject
from samkit.engine.store import ImageRow, MaskRow
from samkit.engine.web_model import ModelWatcher
from samkit.engine.web_schemas import EngineImageOut, image_out


@dataclass
class EngineContext:
    project: EngineProject
    annotator: str
    watcher: ModelWatcher
    serve_state: Any = None  # the annotator app's app.state (set once create_app returned)
    _serve_ids: dict[int, str] = field(default_factory=dict)

    @property
    def store(self):
        return self.project.store

    def name(self, requested: str | None) -> str:
        return requested or self.annotator

    def image(self, image_id: int) -> ImageRow:
        try:
            row = self.store.image(image_id)
        except KeyError:
            raise HTTPException(404, f"no image with id {image_id} in this project") from None
        if row.status != "ok":
            raise HTTPException(409, f"image {row.path} cannot be annotated: it failed to decode ({row.error})")
        return row

    def mask(self, mask_id: int) -> MaskRow:
        try:
            return self.store.mask(mask_id)
        except KeyError:
            raise HTTPException(404, f"no mask with id {mask_id} in this project") from None

    def serve_id(self, row: ImageRow) -> str:
        """The annotator app's id of this image (its file, embedding and decoder live under it)."""
        known = self._serve_ids.get(row.id)
        if known is None:
            served = self.serve_state.images.register(self.project.images_folder / row.path)
            if served is None:
                raise HTTPException(409, f"image {row.path} is no longer readable in {self.project.images_folder}")
            known = self._serve_ids[row.id] = str(served.id)
        return known

    def image_out(self, row: ImageRow, with_masks: bool = True) -> EngineImageOut:
        masks = self.store.masks(row.id) if with_masks else []
        return image_out(row, self.serve_id(row), masks)
