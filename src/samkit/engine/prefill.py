"""Stage 2, semi-automatic: the model pre-fills confident masks for the annotator.

AMG with strict thresholds (samkit.engine.amg_settings.prefill_settings) proposes masks; they are
stored as state "proposed", stage 2, and shown accepted-unless-rejected: the annotator rejects the
wrong ones (set_mask_state) and adds the objects the model missed, guided by the unlabeled region
(`unlabeled_region`: pixels no accepted or proposed mask covers).
"""

from __future__ import annotations

import sys

import numpy as np

from samkit.engine.amg_settings import build_generator, prefill_settings
from samkit.engine.project import EngineProject
from samkit.engine.store import EngineStore


def prefilled(store: EngineStore, image_id: int) -> bool:
    return any(m.source.startswith("model:") for m in store.masks(image_id, stage=2))


def prefill_image(project: EngineProject, generator, image, round_k: int) -> list:
    """Propose masks for one image (idempotent per round: client ids 'prefill:<image>:<round>:<n>')."""
    from samkit.image_io import load_image

    records = generator.generate_records(load_image(project.images_folder / image.path))
    return project.store.add_masks_batch([
        dict(image_id=image.id, rle=r.segmentation, stage=2, round=round_k, source=f"model:{round_k}",
             state="proposed", predicted_iou=r.predicted_iou, stability=r.stability_score,
             client_id=f"prefill:{image.id}:{round_k}:{i}") for i, r in enumerate(records)])


def run_prefill(project: EngineProject, overrides: dict | None = None, image_ids: list[int] | None = None,
                progress: bool = True, model=None) -> dict:
    """Pre-fill every ok image not yet done in stage 2 and not yet pre-filled (or just `image_ids`)."""
    from tqdm.auto import tqdm

    from samkit.errors import SamkitError

    store = project.store
    store.set_stage(2)
    round_k = store.state()["round"]
    wanted = set(image_ids) if image_ids is not None else None
    todo = [im for im in store.images() if im.status == "ok" and 2 not in im.done_stages
            and (wanted is None or im.id in wanted) and not prefilled(store, im.id)]
    out = {"images": 0, "proposed": 0, "failed": []}
    if not todo:
        return out
    model = model if model is not None else project.load_model()
    generator = build_generator(model, prefill_settings(model, **(overrides or {})))
    for image in tqdm(todo, desc="stage 2 pre-fill", unit="img", disable=not progress, file=sys.stderr):
        try:
            rows = prefill_image(project, generator, image, round_k)
        except (SamkitError, OSError) as e:
            out["failed"].append((image.path, str(e)))
            continue
        out["images"] += 1
        out["proposed"] += len(rows)
    return out


def unlabeled_region(store: EngineStore, image_id: int, states: tuple[str, ...] = ("accepted", "proposed")) -> np.ndarray:
    """H x W bool: pixels of the image that no mask in `states` covers (what the annotator should look at)."""
    image = store.image(image_id)
    covered = np.zeros((image.height, image.width), dtype=bool)
    for m in store.masks(image_id):
        if m.state in states:
            covered |= m.mask()
    return ~covered
