"""The plugin in a real napari viewer: found through its npe2 manifest, and clicks/boxes on the
Points/Shapes layers write SamPredictor's masks into the Labels layer (refine, undo, next object)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

SEGMENT = "Segment (clicks, boxes, 3D)"


def _dock(viewer, name=SEGMENT):
    _, widget = viewer.window.add_plugin_dock_widget("samkit", name)
    return widget


def test_samkit_is_a_discovered_napari_plugin(viewer):
    from npe2 import PluginManager

    from samkit.integrations.napari.annotator_widget import AnnotatorWidget
    from samkit.integrations.napari.automatic_widget import AutomaticWidget

    manifest = PluginManager.instance().get_manifest("samkit")  # found through the napari.manifest entry point
    assert {w.display_name for w in manifest.contributions.widgets} == {SEGMENT, "Segment everything"}
    _, first = viewer.window.add_plugin_dock_widget("samkit")  # what `napari -w samkit` opens
    assert isinstance(first, AnnotatorWidget)
    assert isinstance(_dock(viewer, "Segment everything"), AutomaticWidget)


def _predictor(path):
    from samkit import SamPredictor, load_model

    return SamPredictor(load_model(checkpoint=path))


def test_clicks_and_box_write_the_predictors_masks(viewer, wait_for, tiny_checkpoints, synthetic_image):
    widget = _dock(viewer)
    widget.picker.model.value = "checkpoint file"
    widget.picker.checkpoint.value = str(tiny_checkpoints["sam1"])
    viewer.add_image(synthetic_image, name="photo")  # RGB 300 x 400
    widget.picker.image.value = "photo"
    points = viewer.layers["samkit points"]
    labels = viewer.layers["photo samkit labels"]
    assert labels.data.shape == (300, 400)

    ref = _predictor(tiny_checkpoints["sam1"])
    ref.set_image(synthetic_image)

    # One positive click (napari: row, col) -> the best of SAM's three masks.
    points.add([[100, 120]])
    wait_for(widget, 1)
    masks, iou, _ = ref.predict(point_coords=np.array([[120, 100]]), point_labels=np.array([1]))
    first = masks[np.argmax(iou)]
    assert first.any() and np.array_equal(labels.data == 1, first)

    # A negative click refines the same object: both clicks go in, one mask out.
    widget.positive.value = False
    points.add([[200, 300]])
    wait_for(widget, 2)
    assert points.features["positive"].tolist() == [True, False]
    masks, _, _ = ref.predict(point_coords=np.array([[120, 100], [300, 200]]), point_labels=np.array([1, 0]),
                              multimask_output=False)
    assert np.array_equal(labels.data == 1, masks[0])
    assert not np.array_equal(masks[0], first)
    assert set(np.unique(labels.data)) <= {0, 1}
    assert widget.segmenter().embeddings.encoded == 1  # the second click reused the slice's embedding

    # Undo: the first mask is back and the negative click is gone.
    widget.undo()
    assert np.array_equal(labels.data == 1, first)
    assert len(points.data) == 1 and points.features["positive"].tolist() == [True]

    # Next object: id 2, no prompts; a box segments it without touching object 1.
    widget.next_object()
    assert widget.object_id.value == 2 and len(points.data) == 0
    viewer.layers["samkit boxes"].add_rectangles(np.array([[40, 50], [160, 210]]))
    wait_for(widget, 3)
    masks, _, _ = ref.predict(box=np.array([50, 40, 210, 160]), multimask_output=False)
    assert np.array_equal(labels.data == 2, masks[0] & ~first)
    assert np.array_equal(labels.data == 1, first)

    # Undo takes the box away again (the step knows which prompt layer got the new prompt); redraw it.
    widget.undo()
    assert len(viewer.layers["samkit boxes"].data) == 0 and not (labels.data == 2).any()
    viewer.layers["samkit boxes"].add_rectangles(np.array([[40, 50], [160, 210]]))
    wait_for(widget, 4)
    assert np.array_equal(labels.data == 2, masks[0] & ~first)

    # Deleting the object's last prompt deletes its mask.
    viewer.layers["samkit boxes"].selected_data = {0}
    viewer.layers["samkit boxes"].remove_selected()
    assert not (labels.data == 2).any() and np.array_equal(labels.data == 1, first)
