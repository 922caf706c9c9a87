"""SAM2ImagePredictor's samkit extras: validation errors, segment/segment_batch, the feature cache,
hole/sprinkle removal on CPU, and the attributes fine-tuning scripts use."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samkit.builder_sam2 import build_sam2_model
from samkit.config_sam2 import get_sam2_preset
from samkit.errors import InputError
from samkit.inference.predictor import Prediction
from samkit.inference.sam2_predictor import SAM2ImagePredictor
from samkit.inference.sam2_transforms import SAM2Transforms, component_areas

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_sam2_model(get_sam2_preset("sam2_test_tiny")).eval()


@pytest.fixture(scope="module")
def predictor(model):
    rng = np.random.default_rng(0)
    image = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    pred = SAM2ImagePredictor(model)
    pred.set_image(image)
    return pred


def test_shapes_and_dtypes(predictor):
    masks, iou, low = predictor.predict(point_coords=[[100, 100]], point_labels=[1])
    assert masks.shape == (3, 300, 400) and masks.dtype == np.float32 and set(np.unique(masks)) <= {0.0, 1.0}
    assert iou.shape == (3,) and low.shape == (3, 64, 64) and low.dtype == np.float32
    assert predictor._bb_feat_sizes == [(64, 64), (32, 32), (16, 16)]
    assert predictor._features["image_embed"].shape[-2:] == (16, 16)
    assert [tuple(f.shape[-2:]) for f in predictor._features["high_res_feats"]] == [(64, 64), (32, 32)]
    assert predictor.get_image_embedding() is predictor._features["image_embed"]
    assert predictor.device == torch.device("cpu")


@pytest.mark.parametrize("kwargs, match", [
    (dict(point_coords=[[500, 10]], point_labels=[1]), "outside"),
    (dict(point_coords=[[-1, 10]], point_labels=[1]), "outside"),
    (dict(point_coords=[[np.nan, 10]], point_labels=[1]), "NaN"),
    (dict(point_coords=[[10, 10]]), "together"),
    (dict(point_coords=[[10, 10, 3]], point_labels=[1]), "shape"),
    (dict(point_coords=[[10, 10]], point_labels=[1, 1]), "does not match"),
    (dict(point_coords=[[10, 10]], point_labels=[7]), "foreground"),
    (dict(point_coords=np.zeros((0, 2)), point_labels=np.zeros(0)), "empty"),
    (dict(box=[50, 50, 10, 10]), "x1 < x0"),
    (dict(box=[0, 0, 500, 100]), "outside"),
    (dict(box=[0, 0, 10]), "shape"),
    (dict(box=[[0, 0, 10, 10], [0, 0, 20, 20]], point_coords=np.zeros((3, 1, 2)), point_labels=np.ones((3, 1))),
     "one box per"),
    (dict(point_coords=[[10, 10]], point_labels=[1], mask_input=np.zeros((1, 256, 256))), "mask_input"),
    (dict(point_coords=[[10, 10]], point_labels=[1], mask_input=np.full((1, 64, 64), np.inf)), "NaN"),
    (dict(point_coords=[[10, 10]], point_labels=[1], normalize_coords=False), r"\[0, 1\]"),
])
def test_input_errors(predictor, kwargs, match):
    with pytest.raises(InputError, match=match):
        predictor.predict(**kwargs)


def test_image_errors_and_state(model):
    pred = SAM2ImagePredictor(model)
    with pytest.raises(RuntimeError, match="set_image"):
        pred.predict(point_coords=[[1, 1]], point_labels=[1])
    for bad, match in [(np.zeros((10, 10), np.uint8), "H x W x 3"), (np.zeros((10, 10, 3), np.float32), "uint8"),
                       (np.zeros((0, 10, 3), np.uint8), "empty"), ("image.png", "numpy array or a PIL")]:
        with pytest.raises(InputError, match=match):
            pred.set_image(bad)
    with pytest.raises(InputError, match="non-empty list"):
        pred.set_image_batch([])
    pred.set_image(np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(RuntimeError, match="set_image_batch"):
        pred.predict_batch(point_coords_batch=[[[1, 1]]], point_labels_batch=[[1]])
    pred.reset_predictor()
    assert not pred._is_image_set and pred._features is None and pred._orig_hw is None


def test_pil_grayscale_is_converted(model):
    from PIL import Image

    pred = SAM2ImagePredictor(model)
    pred.set_image(Image.fromarray(np.full((40, 50), 128, np.uint8)))
    assert pred._orig_hw == [(40, 50)]


def test_segment_and_segment_batch(predictor):
    pts = np.array([[[100, 100]], [[300, 200]]])
    pred = predictor.segment(point_coords=pts[0], point_labels=[1])
    masks, iou, low = predictor.predict(point_coords=pts[0], point_labels=[1])
    assert isinstance(pred, Prediction) and pred.masks.dtype == bool
    assert np.array_equal(pred.masks, masks.astype(bool)) and np.allclose(pred.iou_predictions, iou)
    assert pred.stability_scores.shape == (3,) and np.all((pred.stability_scores >= 0) & (pred.stability_scores <= 1))
    batch = predictor.segment_batch(point_coords=pts, point_labels=np.ones((2, 1)), chunk_size=1)
    assert batch.masks.shape == (2, 3, 300, 400) and batch.low_res_logits.shape == (2, 3, 64, 64)
    assert np.array_equal(batch.masks[0], pred.masks) and batch.best().shape == (2,)
    boxes = np.array([[10, 10, 200, 150], [150, 100, 390, 290]])
    single = predictor.segment_batch(boxes=boxes, multimask_output=False)
    assert single.masks.shape == (2, 1, 300, 400)
    with pytest.raises(InputError, match="needs point_coords"):
        predictor.segment_batch()
    with pytest.raises(InputError, match="B x N x 2"):
        predictor.segment_batch(point_coords=pts[0], point_labels=[1])


def test_feature_cache(model, tmp_path):
    rng = np.random.default_rng(1)
    image = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    first = SAM2ImagePredictor(model, cache_dir=tmp_path)
    first.set_image(image)
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 1
    second = SAM2ImagePredictor(model, cache_dir=tmp_path)
    calls = []
    orig = model.forward_image
    model.forward_image = lambda *a, **k: calls.append(1) or orig(*a, **k)
    try:
        second.set_image(image)
    finally:
        del model.forward_image
    assert not calls, "a cached image must not be encoded again"
    for a, b in zip(first.predict(box=[5, 5, 60, 50]), second.predict(box=[5, 5, 60, 50])):
        assert np.array_equal(a, b)
    assert second._orig_hw == [(60, 80)]
    emb = first.get_embedding()
    assert len(emb.high_res_feats) == 2
    files[0].write_bytes(b"damaged")  # a damaged entry is recomputed, never trusted
    third = SAM2ImagePredictor(model, cache_dir=tmp_path)
    third.set_image(image)
    assert torch.equal(third._features["image_embed"], first._features["image_embed"])


def test_component_areas_8_connectivity():
    m = torch.zeros(2, 1, 6, 6, dtype=torch.bool)
    m[0, 0, 0, 0] = m[0, 0, 1, 1] = True  # diagonal neighbours: one component of 2
    m[0, 0, 4:6, 4:6] = True  # a 2x2 block
    m[1, 0, 2, :] = True  # a line of 6
    areas = component_areas(m)
    assert areas.dtype == torch.int32 and areas.shape == m.shape
    assert areas[0, 0, 0, 0] == 2 and areas[0, 0, 1, 1] == 2 and areas[0, 0, 5, 5] == 4 and areas[0, 0, 3, 3] == 0
    assert (areas[1, 0, 2] == 6).all() and areas[1].sum() == 36


def test_hole_and_sprinkle_filling():
    logits = torch.full((1, 1, 20, 20), -5.0)
    logits[..., 2:12, 2:12] = 5.0
    logits[..., 6:8, 6:8] = -5.0  # a 4-pixel hole
    logits[..., 16, 16] = 5.0  # a 1-pixel speck
    t = SAM2Transforms(resolution=80, mask_threshold=0.0, max_hole_area=4, max_sprinkle_area=1)
    out = t.fill_holes_and_sprinkles(logits)
    assert (out[..., 6:8, 6:8] == 10.0).all() and out[..., 16, 16] == -10.0
    assert torch.equal(out[..., 2:6, 2:12], logits[..., 2:6, 2:12])
    off = SAM2Transforms(resolution=80, mask_threshold=0.0, max_hole_area=3)
    assert torch.equal(off.fill_holes_and_sprinkles(logits), logits)  # the hole is larger than 3
    assert t.postprocess_masks(logits, (40, 40)).shape == (1, 1, 40, 40)


def test_postprocess_masks_is_differentiable(predictor):
    low = torch.zeros(1, 3, 64, 64, requires_grad=True)
    predictor._transforms.postprocess_masks(low, (300, 400)).sum().backward()
    assert low.grad is not None


def test_fine_tuning_loop_pattern(model):
    """The widely copied SAM 2 fine-tuning recipe: set_image, then call the heads on _features."""
    pred = SAM2ImagePredictor(model)
    pred.set_image(np.zeros((64, 64, 3), np.uint8))
    mask_input, coords, labels, box = pred._prep_prompts(np.array([[[10, 20]]]), np.array([[1]]), None, None, True)
    assert mask_input is None and box is None and coords.shape == (1, 1, 2) and labels.dtype == torch.int32
    sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
    high_res = [f[-1].unsqueeze(0) for f in pred._features["high_res_feats"]]
    low, scores, _, _ = model.sam_mask_decoder(
        image_embeddings=pred._features["image_embed"][-1].unsqueeze(0), image_pe=model.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True, repeat_image=False,
        high_res_features=high_res)
    masks = pred._transforms.postprocess_masks(low, pred._orig_hw[-1])
    loss = masks.sigmoid().mean() + scores.mean()
    loss.backward()
    assert model.sam_mask_decoder.iou_token.weight.grad is not None
    model.zero_grad(set_to_none=True)


def test_decoder_weight_change_invalidates_folded_cache(model, predictor):
    kw = dict(point_coords=[[100, 100]], point_labels=[1])
    before = predictor.predict(**kw)[2]
    w = model.sam_mask_decoder.transformer.layers[0].cross_attn_token_to_image.k_proj.weight
    with torch.no_grad():
        w.mul_(1.5)
    try:
        changed = predictor.predict(**kw)[2]
        fresh = SAM2ImagePredictor(model)
        fresh._features, fresh._orig_hw, fresh._is_image_set = predictor._features, predictor._orig_hw, True
        assert np.abs(changed - fresh.predict(**kw)[2]).max() <= 1e-5
        assert np.abs(changed - before).max() > 1e-4
    finally:
        with torch.no_grad():
            w.div_(1.5)


def test_from_pretrained_delegates(monkeypatch, model):
    import samkit.builder_sam2 as b

    seen = {}
    monkeypatch.setattr(b, "from_pretrained", lambda model_id, **kw: seen.update(id=model_id, **kw) or model,
                        raising=False)
    pred = SAM2ImagePredictor.from_pretrained("facebook/sam2.1-hiera-tiny", device="cpu", mask_threshold=0.5)
    assert seen["id"] == "facebook/sam2.1-hiera-tiny" and pred.model is model and pred.mask_threshold == 0.5


def test_bf16_encoder_path_keeps_masks(model):
    """samkit's SAM2Base runs the encoder in model.encoder_dtype; the predictor adds nothing to it."""
    rng = np.random.default_rng(3)
    image = (rng.random((128, 128, 3)) * 255).astype(np.uint8)
    fp32 = SAM2ImagePredictor(model)
    fp32.set_image(image)
    ref = fp32.predict(box=[10, 10, 100, 110], multimask_output=False)[0]
    model.encoder_dtype = torch.bfloat16
    try:
        fast = SAM2ImagePredictor(model)
        fast.set_image(image)
        assert fast._features["image_embed"].dtype == torch.float32
        out = fast.predict(box=[10, 10, 100, 110], multimask_output=False)[0]
    finally:
        model.encoder_dtype = torch.float32
    inter, union = np.logical_and(ref, out).sum(), np.logical_or(ref, out).sum()
    assert union == 0 or inter / union >= 0.9
    fp32_again = SAM2ImagePredictor(model)
    fp32_again.set_image(image)
    assert np.array_equal(fp32_again.predict(box=[10, 10, 100, 110], multimask_output=False)[0], ref)
