"""Stage 3's work on one image, the same wherever it runs (this process or a Ray worker): the
automatic mask generator's output as SA-1B annotations."""

from __future__ import annotations

from pathlib import Path


def annotations_for(generator, image_path: Path) -> list[dict]:
    """Run the generator on one image file: its SA-1B annotations (ids 1..N)."""
    from samkit.image_io import load_image

    records = generator.generate_records(load_image(image_path))
    return [r.to_sa1b_annotation(i + 1) for i, r in enumerate(records)]
