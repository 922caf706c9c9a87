"""The "Segment everything" dock widget: automatic mask generation (AMG) of a 2D image or of the
current slice of a stack, into the Labels layer "samkit automatic" (ids 1..N, largest first).

The thresholds start below the official defaults (predicted IoU 0.88, stability 0.95, tuned for the
official checkpoints), because the built-in models predict lower IoUs; raise them with an official
checkpoint, lower them when nothing comes out.
"""

from __future__ import annotations

from magicgui.widgets import Container

from samkit.integrations.napari import layer_context as ctx
from samkit.integrations.napari.automatic_labels import AmgSettings, automatic_label_image
from samkit.integrations.napari.labels_writing import write_label_image
from samkit.integrations.napari.model_choice import load_chosen_model
from samkit.integrations.napari.model_picker import ModelPicker
from samkit.integrations.napari.workers import report_error, start_worker

WHAT = "samkit segment everything"


class AutomaticWidget(Container):
    def __init__(self, napari_viewer) -> None:
        from magicgui.widgets import FloatSpinBox, Label, PushButton, SpinBox

        super().__init__()
        self.viewer = napari_viewer
        self.picker = ModelPicker(napari_viewer)
        self.points_per_side = SpinBox(label="points per side", min=1, max=128, value=32)
        self.pred_iou_thresh = FloatSpinBox(label="predicted IoU >=", min=0.0, max=1.0, step=0.01, value=0.5)
        self.stability_thresh = FloatSpinBox(label="stability >=", min=0.0, max=1.0, step=0.01, value=0.8)
        self.run_button = PushButton(text="Segment image / current slice")
        self.status = Label(value="")
        self.extend([*self.picker.widgets, self.points_per_side, self.pred_iou_thresh, self.stability_thresh,
                     self.run_button, self.status])
        self.worker = None
        self.completed = 0  # finished worker runs (tests wait on it)
        self.run_button.changed.connect(lambda _v: self.run())

    def settings(self) -> AmgSettings:
        return AmgSettings(points_per_side=int(self.points_per_side.value),
                           pred_iou_thresh=float(self.pred_iou_thresh.value),
                           stability_score_thresh=float(self.stability_thresh.value))

    def run(self) -> None:
        if self.worker is not None and self.worker.is_running:
            self.status.value = "busy: wait for the running segmentation"
            return
        try:
            self._run()
        except Exception as e:
            report_error(e)

    def _run(self) -> None:
        image = ctx.image_layer(self.viewer, self.picker.image.value, WHAT)
        z = ctx.current_slice(self.viewer, image)
        plane = ctx.plane_of(image, z)
        labels = ctx.ensure_labels_layer(self.viewer, image, ctx.AUTO_LABELS_NAME)
        model = load_chosen_model(self.picker.spec())
        self.status.value = "segmenting everything..."

        def done(label_image) -> None:
            write_label_image(labels.data, z, label_image)
            labels.refresh()
            where = "the image" if z is None else f"slice {z}"
            self.status.value = f"{int(label_image.max())} masks on {where}"

        self.worker = start_worker(automatic_label_image, model, plane, self.settings(),
                                   desc="samkit: segmenting everything", on_returned=done,
                                   on_finished=lambda: setattr(self, "completed", self.completed + 1))
