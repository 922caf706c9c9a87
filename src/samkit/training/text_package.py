"""Write a base SAM checkpoint + a trained text path as one file, after checking nothing else changed.

The output keeps the base file's metadata (built-in marker, AMG thresholds, provenance) and its
weight dtype (float16 for the built-in model). Before it is written, the same clicks and boxes on a
photo must give identical masks with the base model and with the reloaded output: the text path may
only add, never alter, what points and boxes do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from samkit.checkpoint_files import SAFETENSORS_CONFIG_KEY, SAFETENSORS_FORMAT_KEY
from samkit.config_text import TEXT_PROMPT_KEY
from samkit.errors import CheckpointError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "chelsea.png"


def _probe_image() -> np.ndarray:
    if EXAMPLE.is_file():
        from samkit.image_io import load_image

        return load_image(EXAMPLE)
    return np.random.default_rng(0).integers(0, 256, (300, 450, 3), dtype=np.uint8)


def point_box_masks(model, image: np.ndarray) -> list[np.ndarray]:
    """Masks (and low-res logits) of a few clicks and boxes: what must not change."""
    from samkit.inference.predictor import SamPredictor

    pred = SamPredictor(model)
    pred.set_image(image)
    h, w = image.shape[:2]
    out = []
    for xy in ([w * 0.55, h * 0.57], [w * 0.2, h * 0.3], [w * 0.8, h * 0.8]):
        p = pred.segment(point_coords=[xy], point_labels=[1])
        out += [p.masks, p.low_res_logits]
    p = pred.segment(box=np.array([w * 0.2, h * 0.1, w * 0.9, h * 0.95]), multimask_output=False)
    return out + [p.masks, p.low_res_logits]


def _stored_dtype(path: Path) -> torch.dtype | None:
    """float16 when the base file stores its weights in float16 (the built-in model), else None (as is)."""
    from safetensors import safe_open

    if path.suffix != ".safetensors":
        return None
    with safe_open(str(path), "pt") as f:
        key = next((k for k in f.keys() if k.endswith(".weight")), None)
        return torch.float16 if key is not None and f.get_slice(key).get_dtype() == "F16" else None


def write_with_text_path(base_checkpoint: str | None, text_encoder, output: Path, log=print) -> Path:
    from samkit.build import load_checkpoint, read_checkpoint_config, save_checkpoint
    from samkit.builder_text import add_text_encoder
    from samkit.default_model import default_weights

    base_path = Path(base_checkpoint) if base_checkpoint else default_weights()
    _, meta = read_checkpoint_config(base_path)
    keep = {k: v for k, v in meta.items() if k not in (SAFETENSORS_CONFIG_KEY, SAFETENSORS_FORMAT_KEY, TEXT_PROMPT_KEY)}
    # Which base the text path was trained on: a text path only fits the decoder it was trained with.
    keep["text_path_base_sha256"] = hashlib.sha256(base_path.read_bytes()).hexdigest()
    model = add_text_encoder(load_checkpoint(base_path), text_encoder.float().cpu().eval())
    output.parent.mkdir(parents=True, exist_ok=True)
    candidate = output.with_name(output.name + ".candidate.safetensors")
    save_checkpoint(model, candidate, metadata=keep, dtype=_stored_dtype(base_path))
    image = _probe_image()
    before = point_box_masks(load_checkpoint(base_path), image)
    after = point_box_masks(load_checkpoint(candidate), image)
    if not all(np.array_equal(a, b) for a, b in zip(before, after)):
        candidate.unlink()
        raise CheckpointError(f"{output}: points/boxes changed with the text path added; not written")
    candidate.replace(output)
    log(f"wrote {output} ({output.stat().st_size / 2**20:.1f} MiB); clicks and boxes give identical masks "
        f"and logits to {base_path.name}")
    return output
