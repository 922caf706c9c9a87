"""The plugin's layer logic without Qt: planes, prompts from layer data, labels writing and undo,
AMG label images, checks of bad layers."""

from __future__ import annotations

import numpy as np
import pytest

from samkit.errors import InputError
from samkit.integrations.napari.automatic_labels import masks_to_label_image
from samkit.integrations.napari.image_planes import check_layer_shape, stack_planes, to_rgb_uint8
from samkit.integrations.napari.labels_writing import LabelsHistory, next_object_id, write_object_mask
from samkit.integrations.napari.prompt_layers import box_on_slice, points_on_slice, slice_prompts


def test_planes_gray_uint16_rgba_and_bool():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = to_rgb_uint8(gray)
    assert rgb.shape == (3, 4, 3) and np.array_equal(rgb[..., 0], gray) and np.array_equal(rgb[..., 2], gray)
    em16 = np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16)
    out = to_rgb_uint8(em16, contrast_limits=(1000, 3000))  # as shown on screen: >= 3000 is white
    assert out[..., 0].tolist() == [[0, 128], [255, 255]]
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 1] = 7
    assert to_rgb_uint8(rgba).shape == (2, 2, 3) and to_rgb_uint8(rgba)[0, 0, 1] == 7
    assert to_rgb_uint8(np.eye(2, dtype=bool))[0, 0, 0] == 255
    stack = stack_planes(np.zeros((5, 3, 4), dtype=np.float32) + np.arange(5)[:, None, None], rgb=False,
                         contrast_limits=(0, 4))
    assert stack.shape == (5, 3, 4, 3) and stack[:, 0, 0, 0].tolist() == [0, 64, 128, 191, 255]


def test_layer_shape_checks_name_the_problem():
    assert check_layer_shape((10, 20), False, (2, 3), "w") == 2
    assert check_layer_shape((5, 10, 20, 3), True, (2, 3), "w") == 3
    with pytest.raises(InputError, match="4D with shape \\(2, 5, 10, 20\\)"):
        check_layer_shape((2, 5, 10, 20), False, (2, 3), "samkit segment")
    with pytest.raises(InputError, match="a stack"):
        check_layer_shape((10, 20), False, (3,), "propagation")


def test_prompts_from_points_and_shapes_per_slice():
    data = np.array([[2, 10.0, 20.0], [2.4, 30, 40], [3, 5, 5]])  # (z, y, x)
    xy, labels = points_on_slice(data, [True, False, True], 2)
    assert xy.tolist() == [[20, 10], [40, 30]] and labels.tolist() == [1, 0]
    xy2, _ = points_on_slice(data[:, 1:], None, None)  # 2D: every point, positive by default
    assert len(xy2) == 3
    rect_z2 = np.array([[2, 10, 20], [2, 10, 60], [2, 50, 60], [2, 50, 20]], dtype=float)
    rect_z3 = rect_z2 + [1, 0, 0]
    assert box_on_slice([rect_z2, rect_z3], ["rectangle", "rectangle"], 2).tolist() == [20, 10, 60, 50]
    assert box_on_slice([rect_z2], ["ellipse"], 2) is None
    assert slice_prompts(np.zeros((0, 3)), None, [], [], 0).empty


def test_labels_write_keeps_other_objects_and_undoes_exactly():
    labels = np.zeros((2, 4, 4), dtype=np.int32)
    labels[1, 0, :] = 5  # another object, already labelled
    history = LabelsHistory()
    first = np.zeros((4, 4), dtype=bool)
    first[:2, :2] = True
    history.push([write_object_mask(labels, 1, first, 2)])
    assert labels[1, 0].tolist() == [5, 5, 5, 5] and labels[1, 1, :2].tolist() == [2, 2]
    refined = np.zeros((4, 4), dtype=bool)
    refined[2:, 2:] = True
    history.push([write_object_mask(labels, 1, refined, 2)])  # replaces object 2's pixels on that slice
    assert np.count_nonzero(labels[1] == 2) == 4 and labels[1, 1, 0] == 0
    assert history.undo(labels) == [1]
    assert labels[1, 1, :2].tolist() == [2, 2] and labels[1, 3, 3] == 0
    history.undo(labels)
    assert np.count_nonzero(labels == 2) == 0 and labels[1, 0].tolist() == [5, 5, 5, 5]
    assert history.undo(labels) == [] and next_object_id(labels) == 6
    with pytest.raises(InputError, match="does not fit"):
        write_object_mask(labels, 0, np.ones((3, 3), dtype=bool), 1)


def test_amg_label_image_paints_largest_first():
    big = np.zeros((6, 6), dtype=bool)
    big[:, :] = True
    small = np.zeros((6, 6), dtype=bool)
    small[2:4, 2:4] = True
    out = masks_to_label_image([small, big], (6, 6))
    assert out[0, 0] == 1 and out[2, 2] == 2  # the small mask stays visible inside the big one
