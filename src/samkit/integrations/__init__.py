"""Adapters to the tools people already annotate in: a Label Studio ML backend (label_studio/) and a
napari plugin (napari/). They use samkit's inference, automatic and video packages, never the reverse,
and import their tool's packages only inside themselves (optional extras)."""
