"""What a widget works on: the chosen image layer, its shape checks, the current slice, and the
samkit prompt/labels layers that belong to it (created on first use, found by name after that)."""

from __future__ import annotations

import numpy as np

from samkit.errors import InputError
from samkit.integrations.napari.image_planes import check_layer_shape, layer_plane, spatial_ndim
from samkit.integrations.napari.prompt_layers import POSITIVE_FEATURE

POINTS_NAME = "samkit points"
BOXES_NAME = "samkit boxes"
# Labels layers are per image: "<image name> samkit labels" / "<image name> samkit automatic".
LABELS_NAME = "{} samkit labels"
AUTO_LABELS_NAME = "{} samkit automatic"


def image_layer_names(viewer) -> list[str]:
    from napari.layers import Image

    return [layer.name for layer in viewer.layers if isinstance(layer, Image)]


def image_layer(viewer, name: str | None, what: str, allowed: tuple[int, ...] = (2, 3)):
    """The Image layer called `name`, checked to be 2D or a stack (as `allowed`); InputError if not."""
    from napari.layers import Image

    if not name or name not in viewer.layers:
        raise InputError(f"{what}: choose an image layer first (open an image or a stack in napari)")
    layer = viewer.layers[name]
    if not isinstance(layer, Image):
        raise InputError(f"{what}: {name!r} is a {type(layer).__name__} layer, not an image")
    check_layer_shape(tuple(layer.data.shape), bool(layer.rgb), allowed, what)
    return layer


def is_stack(layer) -> bool:
    return spatial_ndim(tuple(layer.data.shape), bool(layer.rgb)) == 3


def current_slice(viewer, layer) -> int | None:
    """The slice of `layer` the viewer shows (None for a 2D layer)."""
    if not is_stack(layer):
        return None
    z = float(np.asarray(layer.world_to_data(viewer.dims.point))[0])
    return int(np.clip(round(z), 0, layer.data.shape[0] - 1))


def contrast_for(layer) -> tuple[float, float] | None:
    """The contrast limits that map non-uint8 data to 0..255 (None: uint8 is used as it is)."""
    return None if np.dtype(layer.data.dtype) == np.uint8 else tuple(float(v) for v in layer.contrast_limits)


def plane_of(layer, slice_index: int | None) -> np.ndarray:
    return layer_plane(layer.data, bool(layer.rgb), slice_index, contrast_for(layer))


def embedding_key(layer, slice_index: int | None) -> tuple:
    return (getattr(layer, "unique_id", id(layer)), tuple(layer.data.shape), str(layer.data.dtype),
            contrast_for(layer), slice_index)


def labels_shape(layer) -> tuple[int, ...]:
    return tuple(layer.data.shape[:-1] if layer.rgb else layer.data.shape)


def _same_geometry(new_layer, image) -> None:
    new_layer.scale = image.scale
    new_layer.translate = image.translate


def ensure_prompt_layers(viewer, image, positive: bool = True):
    """(points layer, shapes layer) for `image`, made if missing: positive points green, negative red."""
    from napari.layers import Points, Shapes

    ndim = len(labels_shape(image))
    points = viewer.layers[POINTS_NAME] if POINTS_NAME in viewer.layers else None
    if not isinstance(points, Points) or points.ndim != ndim:
        if points is not None:
            viewer.layers.remove(points)
        points = Points(np.zeros((0, ndim)), name=POINTS_NAME, size=max(4, min(labels_shape(image)[-2:]) // 60),
                        features={POSITIVE_FEATURE: np.zeros(0, dtype=bool)}, face_color="lime", border_width=0)
        _same_geometry(points, image)
        viewer.add_layer(points)
    points.feature_defaults[POSITIVE_FEATURE] = bool(positive)
    shapes = viewer.layers[BOXES_NAME] if BOXES_NAME in viewer.layers else None
    if not isinstance(shapes, Shapes) or shapes.ndim != ndim:
        if shapes is not None:
            viewer.layers.remove(shapes)
        shapes = Shapes(ndim=ndim, name=BOXES_NAME, edge_color="yellow", face_color="transparent", edge_width=2)
        _same_geometry(shapes, image)
        viewer.add_layer(shapes)
    return points, shapes


def color_points(points) -> None:
    """Positive points lime, negative red (by the `positive` feature)."""
    if len(points.data):
        positive = np.asarray(points.features[POSITIVE_FEATURE], dtype=bool)
        points.face_color = np.where(positive[:, None], [[0.0, 1.0, 0.0, 1.0]], [[1.0, 0.0, 0.0, 1.0]])


def ensure_labels_layer(viewer, image, name_template: str = LABELS_NAME):
    """The Labels layer of `image` named by `name_template` (made, empty, if missing)."""
    from napari.layers import Labels

    name = name_template.format(image.name)
    shape = labels_shape(image)
    labels = viewer.layers[name] if name in viewer.layers else None
    if isinstance(labels, Labels) and tuple(labels.data.shape) == shape:
        return labels
    if labels is not None:
        raise InputError(f"the layer {name!r} has shape {tuple(labels.data.shape)}, not the image's {shape}: "
                         f"rename or delete it")
    labels = Labels(np.zeros(shape, dtype=np.int32), name=name)
    _same_geometry(labels, image)
    viewer.add_layer(labels)
    return labels
