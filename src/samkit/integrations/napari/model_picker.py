"""The model and image-layer pickers every samkit widget shows (magicgui widgets)."""

from __future__ import annotations

from samkit.integrations.napari.layer_context import image_layer_names
from samkit.integrations.napari.model_choice import CHECKPOINT, CHOICES, ModelSpec


class ModelPicker:
    """A model ComboBox, a checkpoint file field (shown for "checkpoint file") and an image ComboBox
    that follows the viewer's image layers."""

    def __init__(self, viewer) -> None:
        from magicgui.widgets import ComboBox, FileEdit

        self.viewer = viewer
        self.model = ComboBox(label="model", choices=list(CHOICES), value=CHOICES[0])
        self.checkpoint = FileEdit(label="checkpoint", mode="r", filter="*.pth *.pt *.safetensors", visible=False)
        self.image = ComboBox(label="image", choices=lambda _w: image_layer_names(self.viewer))
        self.model.changed.connect(lambda v: setattr(self.checkpoint, "visible", v == CHECKPOINT))
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(lambda _e: self.image.reset_choices())
        self.image.reset_choices()

    @property
    def widgets(self) -> list:
        return [self.model, self.checkpoint, self.image]

    def spec(self) -> ModelSpec:
        path = self.checkpoint.value
        return ModelSpec(self.model.value, str(path) if self.model.value == CHECKPOINT and path else "")
