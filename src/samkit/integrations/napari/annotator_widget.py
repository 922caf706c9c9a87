"""The "Segment with clicks" dock widget: points and boxes -> one object per id in a Labels layer,
next object, undo, and propagation of the object through a z-stack or a time-lapse.

Thin Qt code over plain functions: prompts come from prompt_layers, masks from interactive /
propagation, writes and undo from labels_writing; the model runs in a thread worker (workers.py).
Adding or deleting a point, or drawing a box, re-segments the current object on that slice.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import Container

from samkit.integrations.napari import layer_context as ctx
from samkit.integrations.napari.image_planes import stack_planes
from samkit.integrations.napari.interactive import InteractiveSegmenter
from samkit.integrations.napari.labels_writing import LabelsHistory, next_object_id, write_object_mask
from samkit.integrations.napari.model_choice import load_chosen_model
from samkit.integrations.napari.model_picker import ModelPicker
from samkit.inference.model_family import is_sam2_model
from samkit.integrations.napari.propagation import check_prompt, propagate_object
from samkit.integrations.napari.prompt_layers import POSITIVE_FEATURE, slice_prompts
from samkit.integrations.napari.workers import report_error, start_worker

WHAT = "samkit segment"


class AnnotatorWidget(Container):
    """A magicgui Container that napari docks; built by napari from the manifest with the viewer."""

    def __init__(self, napari_viewer) -> None:
        from magicgui.widgets import CheckBox, Label, PushButton, SpinBox

        super().__init__()
        self.viewer = napari_viewer
        self.picker = ModelPicker(napari_viewer)
        self.positive = CheckBox(text="positive click (off: negative)", value=True)
        self.object_id = SpinBox(label="object id", min=1, max=2**31 - 1, value=1)
        self.next_button = PushButton(text="Next object")
        self.undo_button = PushButton(text="Undo")
        self.segment_button = PushButton(text="Segment current slice")
        self.propagate_button = PushButton(text="Propagate object through stack / time")
        self.status = Label(value="add points (click) or draw a box on the image")
        self.extend([*self.picker.widgets, self.positive, self.object_id, self.segment_button, self.next_button,
                     self.undo_button, self.propagate_button, self.status])
        self.history = LabelsHistory()
        self.worker = None
        self.completed = 0  # finished worker runs (tests wait on it)
        self._segmenters: dict = {}
        self._pending = False
        self._pending_erase = False
        self._muted = False
        self._step_info: list = []  # per undo step: (labels layer, (prompt layer, its length) or None)
        self._added_to: str | None = None  # the prompt layer that got the latest prompt
        self.positive.changed.connect(self._on_positive)
        self.next_button.changed.connect(lambda _v: self.next_object())
        self.undo_button.changed.connect(lambda _v: self.undo())
        self.segment_button.changed.connect(lambda _v: self.segment_current())
        self.propagate_button.changed.connect(lambda _v: self.propagate())
        self.picker.image.changed.connect(lambda v: self._try(self.setup_layers, True) if v else None)

    # ------------------------------------------------------------------ layers
    def _try(self, fn, *args):
        try:
            return fn(*args)
        except Exception as e:  # bad input or a failing model: shown in napari, never a traceback
            report_error(e)
            return None

    def image(self):
        return ctx.image_layer(self.viewer, self.picker.image.value, WHAT)

    def setup_layers(self, activate: bool = False):
        """Make (or find) the points, boxes and labels layers for the chosen image; with `activate`,
        select the points layer in add mode, ready for clicks."""
        image = self.image()
        points, shapes = ctx.ensure_prompt_layers(self.viewer, image, self.positive.value)
        labels = ctx.ensure_labels_layer(self.viewer, image)
        for layer in (points, shapes):  # connected once (a layer made anew gets connected again)
            layer.events.data.disconnect(self._on_prompt_change)
            layer.events.data.connect(self._on_prompt_change)
        if activate:
            points.mode = "add"
            self.viewer.layers.selection.active = points
        return image, points, shapes, labels

    def _on_positive(self, value: bool) -> None:
        if ctx.POINTS_NAME in self.viewer.layers:
            self.viewer.layers[ctx.POINTS_NAME].feature_defaults[POSITIVE_FEATURE] = bool(value)

    def _on_prompt_change(self, event) -> None:
        action = str(getattr(event, "action", "added"))
        if self._muted or action not in ("added", "removed", "changed"):
            return
        if ctx.POINTS_NAME in self.viewer.layers:
            ctx.color_points(self.viewer.layers[ctx.POINTS_NAME])
        source = getattr(event, "source", None)
        # Which layer got the new prompt: undo takes it away again.
        self._added_to = getattr(source, "name", None) if action == "added" else None
        self.segment_current(erase_if_empty=action == "removed")

    # ------------------------------------------------------------------ segmenting
    def segmenter(self) -> InteractiveSegmenter:
        spec = self.picker.spec()
        seg = self._segmenters.get(spec.key())
        if seg is None:
            seg = self._segmenters[spec.key()] = InteractiveSegmenter(load_chosen_model(spec))
        return seg

    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def segment_current(self, erase_if_empty: bool = False) -> None:
        """Segment the current object on the current slice from its points and box there. With no
        prompt left there (the user deleted the last one: erase_if_empty), the object's mask on the
        slice goes too; a press of the button on a slice without prompts changes nothing (a
        propagated mask stays)."""
        if self.busy():
            self._pending = True  # re-run with the newest prompts when this one is done
            self._pending_erase = self._pending_erase or erase_if_empty
            return
        self._try(self._segment_current, erase_if_empty)

    def _segment_current(self, erase_if_empty: bool) -> None:
        image, points, shapes, labels = self.setup_layers()
        z = ctx.current_slice(self.viewer, image)
        prompts = slice_prompts(points.data, points.features[POSITIVE_FEATURE] if len(points.data) else None,
                                shapes.data, shapes.shape_type, z)
        obj_id = int(self.object_id.value)
        if prompts.empty:
            if erase_if_empty:
                self._write({z: np.zeros(labels.data.shape[-2:], dtype=bool)}, obj_id, labels)
            else:
                self.status.value = "no prompt on this slice: click on the object or draw a box"
            return
        key, plane = ctx.embedding_key(image, z), ctx.plane_of(image, z)
        added = {ctx.POINTS_NAME: (ctx.POINTS_NAME, len(points.data)),
                 ctx.BOXES_NAME: (ctx.BOXES_NAME, len(shapes.data))}.get(self._added_to)
        self._added_to = None
        seg = self.segmenter()
        encoding = key not in seg.embeddings
        self.status.value = "encoding the slice..." if encoding else "segmenting..."
        self.worker = start_worker(
            seg.segment, key, plane, prompts, desc="samkit: encoding slice" if encoding else "samkit: segmenting",
            on_returned=lambda mask: self._write({z: mask}, obj_id, labels, added),
            on_finished=self._after_worker)

    def _after_worker(self) -> None:
        self.completed += 1
        if self._pending:
            erase, self._pending, self._pending_erase = self._pending_erase, False, False
            self.segment_current(erase)

    def _write(self, masks_by_slice: dict, obj_id: int, labels, added=None) -> None:
        """Write masks and record the undo step; `added`: (prompt layer name, its length) when the
        write followed the addition of a prompt."""
        edits = [write_object_mask(labels.data, z, m, obj_id) for z, m in masks_by_slice.items()]
        self.history.push(edits)
        self._step_info.append((labels, added))
        del self._step_info[: len(self._step_info) - len(self.history.steps)]
        labels.refresh()
        area = sum(int(np.count_nonzero(m)) for m in masks_by_slice.values())
        self.status.value = f"object {obj_id}: {area} px on {len(masks_by_slice)} slice(s)"

    # ------------------------------------------------------------------ objects, undo
    def _clear_prompts(self) -> None:
        self._muted = True
        try:
            for name in (ctx.POINTS_NAME, ctx.BOXES_NAME):
                if name in self.viewer.layers:
                    layer = self.viewer.layers[name]
                    if name == ctx.POINTS_NAME:
                        layer.data = np.zeros((0, layer.ndim))
                    else:
                        layer.data = []
        finally:
            self._muted = False

    def next_object(self) -> None:
        """Start a new object: a fresh id (one above the largest in the labels layer), no prompts."""
        try:
            labels = ctx.ensure_labels_layer(self.viewer, self.image())
            self.object_id.value = next_object_id(labels.data)
        except Exception:  # no usable image yet: the next id is simply the one after this
            self.object_id.value = int(self.object_id.value) + 1
        self._clear_prompts()
        self.status.value = f"object {self.object_id.value}: add points or a box"

    def undo(self) -> None:
        """Revert the last write (a click's mask or a whole propagation) and drop the prompt that made it."""
        if not self.history.steps:
            self.status.value = "nothing to undo"
            return
        labels, added = self._step_info.pop()
        self.history.undo(labels.data)
        labels.refresh()
        layer = self.viewer.layers[added[0]] if added is not None and added[0] in self.viewer.layers else None
        if layer is not None and len(layer.data) == added[1]:  # still the newest prompt: take it away
            self._muted = True  # without re-segmenting
            try:
                layer.selected_data = {len(layer.data) - 1}
                layer.remove_selected()  # keeps the points' features in step
            finally:
                self._muted = False
        self.status.value = "undone"

    # ------------------------------------------------------------------ propagation
    def propagate(self) -> None:
        """Track the current object from the current slice to every other slice (both directions)."""
        if self.busy():
            self.status.value = "busy: wait for the running step"
            return
        self._try(self._propagate)

    def _propagate(self) -> None:
        image = ctx.image_layer(self.viewer, self.picker.image.value, "propagation", allowed=(3,))
        _, points, shapes, labels = self.setup_layers()
        z = ctx.current_slice(self.viewer, image)
        prompts = slice_prompts(points.data, points.features[POSITIVE_FEATURE] if len(points.data) else None,
                                shapes.data, shapes.shape_type, z)
        obj_id = int(self.object_id.value)
        mask = labels.data[z] == obj_id
        planes = stack_planes(image.data, bool(image.rgb), ctx.contrast_for(image))
        model = load_chosen_model(self.picker.spec())
        use_prompts = is_sam2_model(model) and not prompts.empty  # SAM 1 goes from the object's mask
        check_prompt(planes, z, prompts if use_prompts else None, mask)
        results: dict[int, np.ndarray] = {}
        self.status.value = f"propagating object {obj_id} through {len(planes)} slices..."
        self.worker = start_worker(
            propagate_object, model, planes, z, obj_id, prompts if use_prompts else None, mask,
            desc="samkit: propagating", total=len(planes),
            on_yielded=lambda item: results.__setitem__(item[0], item[1]),
            on_finished=lambda: self._after_propagation(results, obj_id, labels))

    def _after_propagation(self, results: dict, obj_id: int, labels) -> None:
        if len(results) == labels.data.shape[0]:  # all slices, or nothing (an error was shown)
            self._write(results, obj_id, labels)
        self._after_worker()
