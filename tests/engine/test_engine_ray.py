"""Stage 3 on a local Ray cluster: the same files as the local run; a killed worker loses nothing."""

from __future__ import annotations

import pytest
from synthetic_engine_data import FAST_AMG

from samkit.engine.auto_stage import run_auto
from samkit.engine.project import init_project

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_run_writes_the_same_files_as_the_local_run(tmp_path, engine_data, tiny_ckpt, one_torch_thread,
                                                        local_ray):
    local = init_project(tmp_path / "local", engine_data / "images", str(tiny_ckpt))
    on_ray = init_project(tmp_path / "ray", engine_data / "images", str(tiny_ckpt))
    assert run_auto(local, FAST_AMG, progress=False).done == 8
    first = run_auto(on_ray, FAST_AMG, ray="local", workers=2, limit=5, progress=False)
    assert first.done == 5 and first.failed == []
    rest = run_auto(on_ray, FAST_AMG, ray="local", workers=2, progress=False)  # resumes: only the 3 left
    assert (rest.done, rest.skipped) == (3, 5)
    local_files = sorted(p.name for p in local.auto_dir.glob("*.json"))
    assert local_files == sorted(p.name for p in on_ray.auto_dir.glob("*.json")) and len(local_files) == 8
    for name in local_files:
        assert (local.auto_dir / name).read_bytes() == (on_ray.auto_dir / name).read_bytes(), name
    assert len(local.store.masks(stage=3)) == len(on_ray.store.masks(stage=3))


def test_a_killed_worker_loses_no_image(engine_data, tiny_ckpt, local_ray):
    from samkit.engine.amg_settings import PAPER_STAGE3
    from samkit.engine.ray_runner import ray_results

    images = [(i, str(p)) for i, p in enumerate(sorted((engine_data / "images").glob("img_*.png")))]
    actors: list = []
    results = {}
    for key, result in ray_results(images, str(tiny_ckpt), {**PAPER_STAGE3, **FAST_AMG}, 2, "local",
                                   actors_out=actors):
        if not results:  # kill a worker mid-run: Ray restarts it and retries its images
            ray.kill(actors[0], no_restart=False)
        results[key] = result
    assert sorted(results) == [k for k, _ in images]
    assert all(isinstance(r, list) for r in results.values()), [r for r in results.values() if not isinstance(r, list)]
