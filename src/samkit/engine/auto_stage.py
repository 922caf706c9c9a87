"""Stage 3, fully automatic: AMG with the paper's settings over every image not yet done.

Per image, in this order (what makes a kill at any moment lose nothing and duplicate nothing):
  1. the masks are computed (here, or by Ray workers: samkit.engine.ray_runner);
  2. DIR/auto/<image_id>.json is written atomically (tmp + os.replace): SA-1B's per-image layout;
  3. its masks go into the store in one transaction, each with client_id "auto:<image>:<ann>" so a
     repeat is a no-op; 4. the image is marked done for stage 3.
A rerun skips every image whose JSON exists, and first finishes steps 3-4 for any image that has a
JSON but is not marked done (a run killed between 2 and 4). The JSON holds no timings, so a local
run and a Ray run write identical files.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from samkit.engine.amg_settings import build_generator, stage3_settings
from samkit.engine.image_annotations import annotations_for
from samkit.engine.project import EngineProject
from samkit.engine.store import ImageRow


@dataclass
class AutoSummary:
    done: int = 0  # images computed in this run
    skipped: int = 0  # images already written by an earlier run
    recovered: int = 0  # images whose JSON existed but whose masks were not all in the store yet
    masks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def auto_json_path(project: EngineProject, image_id: int) -> Path:
    return project.auto_dir / f"{image_id}.json"


def image_doc(image: ImageRow, annotations: list[dict], settings: dict, model: str) -> dict:
    """SA-1B per-image JSON: image info + annotations (COCO RLE, bbox, area, predicted_iou, ...)."""
    return {"image": {"image_id": image.id, "file_name": image.path, "width": image.width, "height": image.height},
            "annotations": annotations, "samkit": {"stage": 3, "model": model, "settings": settings}}


def _write_json_atomic(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())  # the rename must not land before the bytes do
    os.replace(tmp, path)


def ingest(project: EngineProject, image: ImageRow, doc: dict, round_k: int) -> int:
    """Put a written JSON's masks into the store (idempotent) and mark the image done in stage 3."""
    anns = doc["annotations"]
    project.store.add_masks_batch([
        dict(image_id=image.id, rle=a["segmentation"], stage=3, round=round_k, source=f"model:{round_k}",
             predicted_iou=a["predicted_iou"], stability=a["stability_score"],
             client_id=f"auto:{image.id}:{a['id']}") for a in anns])
    project.store.finish_image(image.id, 3, f"model:{round_k}")
    return len(anns)


def _local_results(todo: list[ImageRow], project: EngineProject, model, settings: dict) -> Iterator:
    from samkit.errors import SamkitError

    generator = build_generator(model, settings)
    for image in todo:
        try:
            yield image, annotations_for(generator, project.images_folder / image.path)
        except (SamkitError, OSError) as e:
            yield image, e


def run_auto(project: EngineProject, overrides: dict | None = None, ray: str | None = None, workers: int = 1,
             limit: int | None = None, progress: bool = True, threads_per_worker: int = 1,
             image_ids: list[int] | None = None) -> AutoSummary:
    """Stage 3 over every ok image without a DIR/auto/<id>.json (at most `limit` of them; only
    `image_ids` when given). ray: None runs here; "local" or a cluster address runs on Ray with
    `workers` actors."""
    from tqdm.auto import tqdm

    from samkit.errors import InputError

    store = project.store
    store.set_stage(3)
    round_k = store.state()["round"]
    summary = AutoSummary()
    todo = []
    wanted = set(image_ids) if image_ids is not None else None
    for image in store.images():
        if image.status != "ok" or (wanted is not None and image.id not in wanted):
            continue
        jp = auto_json_path(project, image.id)
        if jp.is_file():
            summary.skipped += 1
            if 3 not in image.done_stages:  # killed after the JSON, before the store: finish it
                summary.recovered += 1
                ingest(project, image, json.loads(jp.read_text()), round_k)
            continue
        todo.append(image)
    if limit is not None:
        todo = todo[:limit]
    if not todo:
        return summary
    model = project.load_model()
    settings = stage3_settings(model, **(overrides or {}))
    model_id = str(project.current_model_path())
    t0 = time.perf_counter()
    if ray is None:
        if workers != 1:
            raise InputError("--workers needs --ray local|ADDRESS (the local run uses one process)")
        results = _local_results(todo, project, model, settings)
    else:
        from samkit.engine.ray_runner import ray_results

        del model  # each worker loads its own replica
        results = ray_results([(im, str(project.images_folder / im.path)) for im in todo],
                              str(project.current_checkpoint_file()), settings, workers, ray, threads_per_worker)
    bar = tqdm(total=len(todo), desc="stage 3 (automatic)", unit="img", disable=not progress, file=sys.stderr)
    for image, result in results:
        bar.update(1)
        if isinstance(result, BaseException):
            summary.failed.append((image.path, str(result).splitlines()[0] if str(result) else type(result).__name__))
            if isinstance(result, InputError):  # the file itself is bad (does not decode): never retried
                store.mark_failed(image.id, str(result))
            continue
        doc = image_doc(image, result, settings, model_id)
        _write_json_atomic(auto_json_path(project, image.id), doc)
        summary.masks += ingest(project, image, doc, round_k)
        summary.done += 1
    bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary
