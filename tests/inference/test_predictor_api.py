"""The predictor's own API: bad inputs, batching, embeddings saved and cached by content."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samkit import EmbeddingCache, ImageEmbedding, InputError, SamPredictor, build_sam


@pytest.fixture(scope="module")
def predictor(synthetic_image):
    torch.manual_seed(0)
    p = SamPredictor(build_sam("tiny"))
    p.set_image(synthetic_image)
    return p


def test_predict_before_set_image_fails():
    with pytest.raises(RuntimeError, match="set_image"):
        SamPredictor(build_sam("tiny")).predict(point_coords=np.array([[1, 1]]), point_labels=np.array([1]))


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(point_coords=np.array([[500.0, 10.0]]), point_labels=np.array([1])), r"outside the 400x300 image"),
    (dict(point_coords=np.array([[np.nan, 10.0]]), point_labels=np.array([1])), "NaN"),
    (dict(point_coords=np.array([10.0, 10.0]), point_labels=np.array([1])), "shape N x 2"),
    (dict(point_coords=np.array([[10.0, 10.0]]), point_labels=np.array([1, 1])), "does not match"),
    (dict(point_coords=np.array([[10.0, 10.0]]), point_labels=np.array([7])), "point_labels must be"),
    (dict(point_coords=np.array([[10.0, 10.0]])), "together"),
    (dict(box=np.array([50, 50, 10, 10])), "x1 < x0"),
    (dict(box=np.array([0, 0, 10])), "shape"),
    (dict(box=np.array([0, 0, 900, 10])), "outside"),
    (dict(point_coords=np.array([[1.0, 1.0]]), point_labels=np.array([1]), mask_input=np.zeros((1, 32, 32))), "mask_input"),
])
def test_bad_prompts_are_named(predictor, kwargs, pattern):
    with pytest.raises(InputError, match=pattern):
        predictor.predict(**kwargs)


@pytest.mark.parametrize("image, pattern", [
    (np.zeros((10, 10), np.uint8), "H x W x 3"),
    (np.zeros((10, 10, 3), np.float32), "uint8"),
    ([[1, 2, 3]], "numpy array"),
])
def test_bad_images_are_named(image, pattern):
    with pytest.raises(InputError, match=pattern):
        SamPredictor(build_sam("tiny")).set_image(image)


def test_edge_points_and_boxes_are_accepted(predictor, synthetic_image):
    h, w = synthetic_image.shape[:2]
    masks, iou, low = predictor.predict(point_coords=np.array([[w, h], [0, 0]]), point_labels=np.array([1, 0]),
                                        box=np.array([0, 0, w, h]))
    assert masks.shape == (3, h, w) and iou.shape == (3,) and low.shape == (3, 64, 64)


def test_segment_and_segment_batch_agree_with_predict(predictor):
    pts = np.array([[100.0, 100.0], [300.0, 220.0]])
    single = [predictor.predict(point_coords=p[None], point_labels=np.array([1]), return_logits=True) for p in pts]
    batch = predictor.segment_batch(point_coords=pts[:, None], point_labels=np.ones((2, 1)), chunk_size=1)
    for i, (logits, iou, low) in enumerate(single):
        np.testing.assert_allclose(batch.low_res_logits[i], low, atol=1e-5)
        np.testing.assert_allclose(batch.iou_predictions[i], iou, atol=1e-6)
        assert np.array_equal(batch.masks[i], logits > 0)
    seg = predictor.segment(point_coords=pts[:1], point_labels=np.array([1]))
    assert seg.stability_scores.shape == (3,) and np.all((seg.stability_scores >= 0) & (seg.stability_scores <= 1))
    assert seg.best() == int(np.argmax(seg.iou_predictions))


def test_embedding_save_load_and_cache(tmp_path, synthetic_image):
    model = build_sam("tiny")
    p = SamPredictor(model, cache_dir=tmp_path / "cache")
    p.set_image(synthetic_image)
    files = list((tmp_path / "cache").rglob("*.safetensors"))
    assert len(files) == 1
    emb = p.get_embedding()
    saved = emb.save(tmp_path / "e.safetensors")
    again = ImageEmbedding.load(saved)
    assert torch.equal(again.features, emb.features) and again.original_size == (300, 400)

    # A second predictor with the same model reads the cache instead of running the encoder.
    calls = []
    hook = model.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    p2 = SamPredictor(model, cache_dir=tmp_path / "cache")
    p2.set_image(synthetic_image.copy())
    assert not calls and torch.equal(p2.get_image_embedding(), emb.features)
    hook.remove()

    # Changing the weights changes the key: the stale embedding is not used.
    with torch.no_grad():
        model.image_encoder.neck[0].weight.mul_(2)
    p2.set_image(synthetic_image)
    assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == 2
    with pytest.raises(InputError, match="different model"):
        p2.set_embedding(again)
    assert EmbeddingCache(tmp_path / "none").get("x", "y") is None


def test_encode_images_batches(synthetic_image):
    p = SamPredictor(build_sam("tiny"))
    imgs = [synthetic_image, synthetic_image[:100, :250].copy(), synthetic_image]
    embs = p.encode_images(imgs, batch_size=2)
    assert [e.original_size for e in embs] == [(300, 400), (100, 250), (300, 400)]
    p.set_image(imgs[1])
    assert torch.allclose(p.get_image_embedding(), embs[1].features, atol=1e-5)
    p.set_embedding(embs[0])
    assert p.original_size == (300, 400)


def test_bf16_fast_path_agrees(synthetic_image):
    model = build_sam("tiny")
    p32 = SamPredictor(model)
    p32.set_image(synthetic_image)
    ref = p32.predict(point_coords=np.array([[120.0, 100.0]]), point_labels=np.array([1]), multimask_output=False)[0]
    model.encoder_dtype = torch.bfloat16
    p16 = SamPredictor(model)
    p16.set_image(synthetic_image)
    fast = p16.predict(point_coords=np.array([[120.0, 100.0]]), point_labels=np.array([1]), multimask_output=False)[0]
    iou = (ref & fast).sum() / max((ref | fast).sum(), 1)
    assert iou > 0.95


def test_repeated_predictions_do_not_disturb_the_cached_image_side(predictor):
    """The no-mask fast path caches per-image tensors; one prompt must not corrupt them for the next."""
    kw = dict(point_coords=np.array([[100.0, 100.0]]), point_labels=np.array([1]))
    first = predictor.predict(**kw)[2]
    predictor.predict(point_coords=np.array([[300.0, 200.0]]), point_labels=np.array([0]), box=np.array([10, 10, 390, 290]))
    np.testing.assert_array_equal(predictor.predict(**kw)[2], first)
