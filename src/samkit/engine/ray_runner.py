"""Stage 3 on Ray: one actor per worker, each holding its own model replica (a GPU each where the
cluster has them), fed one image at a time by the driver (optional extra: `pip install samkit[ray]`).

Workers only compute: they return an image's SA-1B annotations and write nothing. The driver writes
every file and store row (samkit.engine.auto_stage), so a killed worker loses nothing: its image is
retried by Ray on a restarted actor, or, failing that, reported and redone by the next run. Workers
read images from the paths the driver gives (a local cluster, or a filesystem shared by the nodes).
"""

from __future__ import annotations

from collections import deque
from typing import Iterator

from samkit.errors import InputError

MAX_RESTARTS = 2  # per actor; a task of a restarted actor is retried as often


class AmgWorker:
    """A model replica and its generator; `annotations(path)` -> SA-1B annotations of that image."""

    def __init__(self, checkpoint: str, settings: dict, threads: int) -> None:
        import torch

        from samkit.build import load_model
        from samkit.engine.amg_settings import build_generator

        if threads > 0:
            torch.set_num_threads(threads)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = load_model(checkpoint=checkpoint, device=device, dtype="float32")
        self.generator = build_generator(self.model, settings)

    def annotations(self, image_path: str) -> list[dict]:
        from pathlib import Path

        from samkit.engine.image_annotations import annotations_for

        return annotations_for(self.generator, Path(image_path))

    def pid(self) -> int:
        import os

        return os.getpid()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'samkit[ray]' (or run without --ray)") from None
    return ray


def start_workers(checkpoint: str, settings: dict, workers: int, address: str, threads: int):
    """(ray module, actors, whether this call started Ray). address: 'local' or a cluster address;
    an already initialised Ray (a test's ray.init) is used as it is."""
    ray = _import_ray()
    if workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False}
        if address == "local":
            ray.init(num_cpus=max(workers * max(threads, 1), 1), **kwargs)
        else:
            ray.init(address=address, **kwargs)
        started = True
    gpus = ray.cluster_resources().get("GPU", 0.0)
    gpu_each = 1.0 if gpus >= workers else (gpus / workers if gpus else 0.0)
    cls = ray.remote(num_cpus=max(threads, 1), num_gpus=gpu_each, max_restarts=MAX_RESTARTS,
                     max_task_retries=MAX_RESTARTS)(AmgWorker)
    actors = [cls.remote(checkpoint, settings, threads) for _ in range(workers)]
    return ray, actors, started


def ray_results(images: list[tuple[object, str]], checkpoint: str, settings: dict, workers: int, address: str,
                threads: int = 1, actors_out: list | None = None) -> Iterator[tuple[object, object]]:
    """Yield (image, annotations or the exception that stopped it) as workers finish, in any order.

    images: (key, image path) pairs; each actor has at most two images in flight so a fast worker
    takes more. actors_out, if given, receives the actors (tests kill one)."""
    ray, actors, started = start_workers(checkpoint, settings, workers, address, threads)
    if actors_out is not None:
        actors_out.extend(actors)
    queue = deque(images)
    pending: dict = {}

    def submit(actor) -> None:
        if queue:
            key, path = queue.popleft()
            pending[actor.annotations.remote(path)] = (actor, key)

    try:
        for actor in actors:
            submit(actor)
            submit(actor)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            actor, key = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as e:  # a task that failed or a worker gone for good: reported, redone next run
                cause = getattr(e, "cause", None)
                yield key, cause if isinstance(cause, InputError) else e
            else:
                yield key, result
            submit(actor)
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
