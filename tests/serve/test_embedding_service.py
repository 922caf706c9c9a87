"""The encoding state machine seen from inside the encoder: states and progress are honest."""

from __future__ import annotations

import time

import numpy as np

from samkit.serve.embedding_service import EmbeddingService, _progress_modules


def test_progress_follows_the_encoder_blocks(tiny_model, tmp_path):
    pixels = (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)
    service = EmbeddingService(tiny_model, tmp_path / "cache", lambda image_id: (pixels, None))
    seen = []
    stages = _progress_modules(tiny_model.image_encoder)
    assert len(stages) == len(tiny_model.image_encoder.blocks) + 1  # blocks + neck
    # Observe the status the page would see as each stage finishes (our hooks run before the
    # service's, which are added when encoding starts): i of n stages were counted before stage i.
    handles = [m.register_forward_hook(lambda *a: seen.append(service.status(7, None).as_dict())) for m in stages]
    try:
        assert service.status(7, None).state == "idle"
        assert service.request(7, None).state == "queued"
        deadline = time.time() + 60
        while service.status(7, None).state in ("queued", "encoding") and time.time() < deadline:
            time.sleep(0.02)
    finally:
        for h in handles:
            h.remove()
        service.stop()
    assert [s["state"] for s in seen] == ["encoding"] * len(stages)
    progress = [s["progress"] for s in seen]
    assert progress == [round(i / len(stages), 4) for i in range(len(stages))]
    # Done: the status now comes from the disk cache, under the pixel key of the image.
    from samkit.inference.embedding import image_key

    key = image_key(pixels)
    assert service.status(7, key).as_dict() == {"state": "ready", "progress": 1.0, "error": None}
    data, shape = service.embedding_f16(key)
    assert shape == (1, 64, 16, 16) and len(data) == 2 * 64 * 16 * 16


def test_errors_are_reported_and_retried(tiny_model, tmp_path):
    calls = []

    def load(image_id):
        calls.append(image_id)
        raise OSError("disk on fire")

    service = EmbeddingService(tiny_model, tmp_path / "cache", load)
    try:
        service.request(3, None)
        deadline = time.time() + 30
        while service.status(3, None).state != "error" and time.time() < deadline:
            time.sleep(0.02)
        st = service.status(3, None)
        assert st.state == "error" and "disk on fire" in st.error
        assert service.request(3, None).state == "queued"  # a new POST retries
        while service.status(3, None).state != "error" and time.time() < deadline:
            time.sleep(0.02)
        assert calls == [3, 3]
    finally:
        service.stop()
