"""samkit's napari plugin (npe2; `napari -w samkit`): segment with clicks and boxes into a Labels
layer, segment everything (AMG), and propagate an object through a z-stack or a time-lapse with
SAM 2's video predictor.

Files, one concept each: napari.yaml (the manifest), model_choice.py (which model, loaded once),
image_planes.py (layer data -> RGB uint8 planes, shape checks), prompt_layers.py (Points/Shapes data
-> prompts on a slice), slice_embeddings.py (per-slice embedding cache), interactive.py (prompts ->
mask), labels_writing.py (masks -> Labels data, undo), automatic_labels.py (AMG -> label image),
propagation.py (SAM 2 video over slices; SAM 1 box-by-box), workers.py (thread workers, progress
bar, errors as notifications), layer_context.py (which layers a widget works on), model_picker.py,
annotator_widget.py and automatic_widget.py (the thin magicgui widgets napari docks).
Everything but the last four runs without Qt (tests/integrations_napari/test_napari_layer_logic.py).
Importing this package imports nothing from napari.
"""
