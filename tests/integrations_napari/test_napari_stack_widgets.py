"""Stacks in a real napari viewer: propagating an object through a grayscale z-stack gives
SAM2VideoPredictor's masks for the same click (the stack read as a folder of PNG frames), AMG
labels the current slice only, and bad layers get an error notification instead of a traceback."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")


def _dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget("samkit", name)
    return widget


def _use_checkpoint(widget, path):
    widget.picker.model.value = "checkpoint file"
    widget.picker.checkpoint.value = str(path)


def test_propagation_equals_the_video_predictor(viewer, wait_for, tiny_checkpoints, synthetic_stack, tmp_path):
    from synthetic_video import write_frame_folder

    from samkit import load_model
    from samkit.integrations.napari.propagation import VIDEO_SETTINGS
    from samkit.video.build_video import video_predictor_from_model

    stack = synthetic_stack()  # 6 x 64 x 80 grayscale uint8
    widget = _dock(viewer, "Segment (clicks, boxes, 3D)")
    _use_checkpoint(widget, tiny_checkpoints["sam2"])
    viewer.add_image(stack, name="em")
    widget.picker.image.value = "em"
    viewer.dims.set_current_step(0, 3)
    points = viewer.layers["samkit points"]
    points.add([[3, 30, 34]])  # (z, y, x): the disc on slice 3
    wait_for(widget, 1)
    widget.propagate()
    wait_for(widget, 2)
    labels = viewer.layers["em samkit labels"].data

    ref = video_predictor_from_model(load_model(checkpoint=tiny_checkpoints["sam2"]), **VIDEO_SETTINGS)
    ref.show_progress = False
    frames = write_frame_folder(tmp_path / "frames", [np.repeat(s[..., None], 3, axis=2) for s in stack], ".png")
    state = ref.init_state(str(frames))
    ref.add_new_points_or_box(state, frame_idx=3, obj_id=1, points=[[34, 30]], labels=[1])
    expected = {}
    for reverse in (False, True):
        for t, _, logits in ref.propagate_in_video(state, start_frame_idx=3, reverse=reverse):
            expected.setdefault(t, (logits[0, 0] > 0).numpy())
    assert sorted(expected) == list(range(6))
    for t in range(6):
        assert np.array_equal(labels[t] == 1, expected[t]), f"slice {t}"
    assert any(expected[t].any() for t in range(6))

    viewer.dims.set_current_step(0, 0)
    widget.segment_current()  # no prompt on slice 0: the propagated mask stays
    assert np.array_equal(labels[0] == 1, expected[0]) and widget.completed == 2

    widget.undo()  # a propagation is one undo step: back to the click's mask on slice 3 only
    assert not (labels[[0, 1, 2, 4, 5]] == 1).any()


def test_automatic_segmentation_of_the_current_slice(viewer, wait_for, tiny_checkpoints, synthetic_stack):
    from samkit import load_model
    from samkit.automatic import SamAutomaticMaskGenerator
    from samkit.integrations.napari.automatic_labels import masks_to_label_image

    stack = synthetic_stack()
    widget = _dock(viewer, "Segment everything")
    _use_checkpoint(widget, tiny_checkpoints["sam1"])
    viewer.add_image(stack, name="em")
    widget.picker.image.value = "em"
    viewer.dims.set_current_step(0, 2)
    widget.points_per_side.value = 4
    widget.pred_iou_thresh.value = 0.0  # random weights: keep what comes out
    widget.stability_thresh.value = 0.0
    widget.run()
    wait_for(widget, 1)
    labels = viewer.layers["em samkit automatic"].data
    gen = SamAutomaticMaskGenerator(load_model(checkpoint=tiny_checkpoints["sam1"]), points_per_side=4,
                                    pred_iou_thresh=0.0, stability_score_thresh=0.0)
    plane = np.repeat(stack[2][..., None], 3, axis=2)
    expected = masks_to_label_image([r["segmentation"] for r in gen.generate(plane)], plane.shape[:2])
    assert expected.max() >= 1
    assert np.array_equal(labels[2], expected)
    assert not labels[[0, 1, 3, 4, 5]].any()


def test_bad_layers_and_inputs_are_shown_as_errors(viewer, error_messages, tiny_checkpoints, synthetic_stack):
    widget = _dock(viewer, "Segment (clicks, boxes, 3D)")
    viewer.add_image(np.zeros((2, 3, 32, 32), dtype=np.uint8), name="4d")
    widget.picker.image.value = "4d"  # choosing it tries to set up the layers
    assert any("this layer is 4D with shape (2, 3, 32, 32)" in m for m in error_messages())
    assert "4d samkit labels" not in viewer.layers

    viewer.add_image(np.zeros((32, 32), dtype=np.uint8), name="flat")
    widget.picker.image.value = "flat"
    widget.propagate()  # a 2D image has nothing to propagate through
    assert any("propagation works on a stack" in m for m in error_messages())

    viewer.layers.clear()  # the 4D layer would add a viewer axis
    viewer.add_image(synthetic_stack(), name="em")
    widget.picker.image.value = "em"
    widget.picker.model.value = "checkpoint file"
    widget.picker.checkpoint.value = "/nonexistent/model.pth"
    viewer.dims.set_current_step(0, 0)
    viewer.layers["samkit points"].add([[0, 10, 10]])  # a click on the shown slice
    assert any("checkpoint file not found" in m for m in error_messages())
    _use_checkpoint(widget, tiny_checkpoints["sam2"])
    widget.next_object()
    widget.propagate()  # an object with no mask and no prompt on this slice
    assert any("nothing to propagate" in m for m in error_messages())
