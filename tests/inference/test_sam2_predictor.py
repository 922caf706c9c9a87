"""samkit's SAM2ImagePredictor vs the reference sam2 one: twin models (identical random weights),
the same images and prompts; masks, IoU predictions and low-res logits must agree to fp32 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_sam2 import import_reference_sam2, twin_sam2_models
from samkit.config_sam2 import get_sam2_preset
from samkit.inference.sam2_predictor import SAM2ImagePredictor
from samkit.image_io import load_image

TOL = 1e-4
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def twins(cfg):
    """twin_sam2_models, with the reference's hydra ListConfig pooling sizes made tuples (a list-valued
    q_stride override reaches nn.MaxPool2d as a ListConfig, which torch's max_pool2d rejects)."""
    from omegaconf import ListConfig

    ref, ours = twin_sam2_models(cfg)
    for mod in ref.modules():
        for name, value in list(vars(mod).items()):
            if isinstance(value, ListConfig) and isinstance(mod, torch.nn.MaxPool2d):
                setattr(mod, name, tuple(value))
    return ref, ours


def reference_predictor(model, **kwargs):
    import_reference_sam2()
    from sam2.sam2_image_predictor import SAM2ImagePredictor as Ref

    pred = Ref(model, **kwargs)
    s = model.image_size  # the reference hard-codes 1024's feature sizes
    pred._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    return pred


def photo(request) -> np.ndarray:
    try:
        return load_image(request.getfixturevalue("coco_photo_path"))
    except pytest.skip.Exception:
        return request.getfixturevalue("synthetic_image")


def assert_same(ref_out, our_out, ref_logits=None):
    """(masks, iou, low_res) tuples agree; mask pixels may differ only where the logit is ~0."""
    (rm, ri, rl), (om, oi, ol) = ref_out, our_out
    assert om.shape == rm.shape and om.dtype == rm.dtype
    assert oi.shape == ri.shape and oi.dtype == ri.dtype
    assert ol.shape == rl.shape and ol.dtype == rl.dtype
    assert np.abs(rl - ol).max() <= TOL, f"low-res logits max abs diff {np.abs(rl - ol).max()}"
    assert np.abs(ri - oi).max() <= TOL, f"IoU max abs diff {np.abs(ri - oi).max()}"
    if ref_logits is None:  # masks are logits themselves
        assert np.abs(rm - om).max() <= TOL
    else:
        flipped = rm != om
        assert np.all(np.abs(ref_logits[flipped]) <= TOL), f"{int(flipped.sum())} mask pixels differ"


def compare(ref, ours, **kwargs):
    r, o = ref.predict(**kwargs), ours.predict(**kwargs)
    logits = None if kwargs.get("return_logits") else ref.predict(**dict(kwargs, return_logits=True))[0]
    assert_same(r, o, logits)
    return r, o


def prompts(h: int, w: int) -> dict[str, dict]:
    pt = np.array([[w * 0.4, h * 0.55]])
    pts = np.array([[w * 0.4, h * 0.55], [w * 0.7, h * 0.3], [w * 0.1, h * 0.9]])
    box = np.array([w * 0.2, h * 0.25, w * 0.75, h * 0.8])
    boxes = np.array([[w * 0.1, h * 0.1, w * 0.5, h * 0.6], [w * 0.4, h * 0.3, w * 0.9, h * 0.95], box])
    return {
        "one point": dict(point_coords=pt, point_labels=np.array([1])),
        "one point single": dict(point_coords=pt, point_labels=np.array([1]), multimask_output=False),
        "fg+bg points": dict(point_coords=pts, point_labels=np.array([1, 0, 1]), multimask_output=False),
        "box": dict(box=box, multimask_output=False),
        "box multimask": dict(box=box),
        "point + box": dict(point_coords=pt, point_labels=np.array([0]), box=box),
        "logits": dict(point_coords=pts, point_labels=np.array([1, 0, 1]), return_logits=True),
        "normalized coords": dict(point_coords=pt / [w, h], point_labels=np.array([1]), box=box / [w, h, w, h],
                                  normalize_coords=False),
        "several boxes": dict(box=boxes, multimask_output=False),
        "several boxes multimask": dict(box=boxes),
        "batched points + boxes": dict(point_coords=np.stack([pt] * 3), point_labels=np.ones((3, 1)), box=boxes),
        "no prompt": dict(),
    }


@pytest.fixture(scope="module", params=["plain", "eval_postprocessing"])
def tiny_twins(request):
    """The tiny test preset, as built (single-mask output is token 0) and with build_sam2's eval-time
    post-processing (single-mask output falls back to the best multimask one when unstable)."""
    cfg = get_sam2_preset("sam2_test_tiny")
    if request.param == "eval_postprocessing":
        cfg = cfg.with_eval_postprocessing()
    return twins(cfg)


@pytest.fixture(scope="module")
def tiny_pair(tiny_twins, request):
    ref_model, our_model = tiny_twins
    image = photo(request)
    ref, ours = reference_predictor(ref_model), SAM2ImagePredictor(our_model)
    ref.set_image(image)
    ours.set_image(image)
    return ref, ours, image


def test_features_match(tiny_pair):
    ref, ours, _ = tiny_pair
    assert ours._orig_hw == [tuple(hw) for hw in ref._orig_hw]
    assert (ref._features["image_embed"] - ours._features["image_embed"]).abs().max() <= TOL
    for a, b in zip(ref._features["high_res_feats"], ours._features["high_res_feats"], strict=True):
        assert a.shape == b.shape and (a - b).abs().max() <= TOL


@pytest.mark.parametrize("case", list(prompts(1, 1)))
def test_predict_matches(tiny_pair, case):
    ref, ours, image = tiny_pair
    compare(ref, ours, **prompts(*image.shape[:2])[case])


@pytest.mark.parametrize("case", ["one point", "fg+bg points", "box", "several boxes"])
def test_mask_input_feedback_matches(tiny_pair, case):
    """The interactive loop: the best low-res logits fed back as the mask prompt."""
    ref, ours, image = tiny_pair
    kwargs = prompts(*image.shape[:2])[case]
    r, _ = compare(ref, ours, **kwargs)
    low, iou = r[2], r[1]
    if low.ndim == 4:  # several prompts: one mask each
        fed = low[np.arange(len(low)), iou.argmax(-1)][:, None]
    else:
        fed = low[int(iou.argmax())][None]
    compare(ref, ours, **dict(kwargs, mask_input=fed, multimask_output=False))
    compare(ref, ours, **dict(kwargs, mask_input=fed, multimask_output=True))


def test_torch_predict_matches(tiny_pair):
    """_predict with torch prompts (what the reference AMG and fine-tuning scripts call)."""
    ref, ours, image = tiny_pair
    h, w = image.shape[:2]
    coords = torch.tensor([[[w * 0.3, h * 0.3]], [[w * 0.6, h * 0.7]]])
    prepped_r = ref._prep_prompts(coords.numpy(), np.ones((2, 1)), None, None, True)
    prepped_o = ours._prep_prompts(coords.numpy(), np.ones((2, 1)), None, None, True)
    for a, b in zip(prepped_r, prepped_o, strict=True):
        assert (a is None and b is None) or torch.equal(a, b)
    _, c, lab, _ = prepped_o
    for return_logits in (False, True):
        r = ref._predict(c, lab, multimask_output=True, return_logits=return_logits)
        o = ours._predict(c, lab, multimask_output=True, return_logits=return_logits)
        assert o[0].dtype == r[0].dtype and o[0].shape == r[0].shape
        assert (r[1] - o[1]).abs().max() <= TOL and (r[2] - o[2]).abs().max() <= TOL


@pytest.mark.parametrize("hw", [(480, 640), (640, 480)])
def test_non_square_and_pil(tiny_twins, hw):
    from PIL import Image

    ref_model, our_model = tiny_twins
    rng = np.random.default_rng(hw[0])
    image = (rng.random((*hw, 3)) * 255).astype(np.uint8)
    image[hw[0] // 4 : hw[0] // 2, hw[1] // 3 : hw[1] // 2] = (250, 30, 30)
    ref, ours = reference_predictor(ref_model), SAM2ImagePredictor(our_model)
    for img in (image, Image.fromarray(image)):
        ref.set_image(img)
        ours.set_image(img)
        assert ours._orig_hw == [hw]
        for case in ("point + box", "several boxes"):
            compare(ref, ours, **prompts(*hw)[case])


def test_image_batch_matches(tiny_twins, synthetic_image):
    ref_model, our_model = tiny_twins
    images = [synthetic_image, np.ascontiguousarray(synthetic_image[:200, ::-1]), np.zeros((333, 120, 3), np.uint8)]
    ref, ours = reference_predictor(ref_model), SAM2ImagePredictor(our_model)
    ref.set_image_batch(images)
    ours.set_image_batch(images)
    assert ours._is_batch and ours._orig_hw == [im.shape[:2] for im in images]
    pts = [np.array([[im.shape[1] / 2, im.shape[0] / 3]]) for im in images]
    labels = [np.array([1])] * 3
    boxes = [np.array([0, 0, im.shape[1] / 2, im.shape[0] / 2]) for im in images]
    for kwargs in (dict(point_coords_batch=pts, point_labels_batch=labels),
                   dict(box_batch=boxes, multimask_output=False),
                   dict(point_coords_batch=pts, point_labels_batch=labels, box_batch=boxes, return_logits=True)):
        r, o = ref.predict_batch(**kwargs), ours.predict_batch(**kwargs)
        for i in range(len(images)):
            logits = None if kwargs.get("return_logits") else \
                ref.predict_batch(**dict(kwargs, return_logits=True))[0][i]
            assert_same((r[0][i], r[1][i], r[2][i]), (o[0][i], o[1][i], o[2][i]), logits)


def test_hole_and_sprinkle_removal_matches_reference(tiny_twins, synthetic_image, monkeypatch):
    """The reference needs a CUDA kernel for this; give it an independent pure-Python 8-connected
    labelling and compare with samkit's CPU implementation."""
    import_reference_sam2()
    import sam2.utils.misc as misc

    def bfs_components(mask):
        m = mask.to(torch.bool).numpy()
        labels = np.zeros(m.shape, np.int32)
        counts = np.zeros(m.shape, np.int32)
        for n in range(m.shape[0]):
            img, lab, cnt = m[n, 0], labels[n, 0], counts[n, 0]
            nxt = 0
            for y0, x0 in zip(*np.nonzero(img)):
                if lab[y0, x0]:
                    continue
                nxt += 1
                stack, members = [(y0, x0)], []
                lab[y0, x0] = nxt
                while stack:
                    y, x = stack.pop()
                    members.append((y, x))
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            yy, xx = y + dy, x + dx
                            if 0 <= yy < img.shape[0] and 0 <= xx < img.shape[1] and img[yy, xx] and not lab[yy, xx]:
                                lab[yy, xx] = nxt
                                stack.append((yy, xx))
                for y, x in members:
                    cnt[y, x] = len(members)
        return torch.from_numpy(labels), torch.from_numpy(counts)

    monkeypatch.setattr(misc, "get_connected_components", bfs_components)
    ref_model, our_model = tiny_twins
    kw = dict(mask_threshold=0.0, max_hole_area=40.0, max_sprinkle_area=25.0)
    ref, ours = reference_predictor(ref_model, **kw), SAM2ImagePredictor(our_model, **kw)
    ref.set_image(synthetic_image)
    ours.set_image(synthetic_image)
    plain = SAM2ImagePredictor(our_model)
    plain.set_image(synthetic_image)
    changed = 0
    for case in ("one point", "box", "fg+bg points"):
        kwargs = prompts(*synthetic_image.shape[:2])[case]
        compare(ref, ours, **dict(kwargs, return_logits=True))
        changed += int((ours.predict(**kwargs)[0] != plain.predict(**kwargs)[0]).sum())
    assert changed > 0, "random-weight masks should have some small holes/specks to remove"


@pytest.fixture(scope="module")
def full_pair(request):
    ref_model, our_model = twins(get_sam2_preset("sam2.1_hiera_t").with_eval_postprocessing())
    image = photo(request)
    ref, ours = reference_predictor(ref_model), SAM2ImagePredictor(our_model)
    ref.set_image(image)
    ours.set_image(image)
    return ref, ours, image


@pytest.mark.slow
@pytest.mark.parametrize("case", ["one point", "one point single", "fg+bg points", "point + box", "several boxes"])
def test_full_size_hiera_t_matches(full_pair, case):
    ref, ours, image = full_pair
    assert (ref._features["image_embed"] - ours._features["image_embed"]).abs().max() <= TOL
    kwargs = prompts(*image.shape[:2])[case]
    r, _ = compare(ref, ours, **kwargs)
    if r[2].ndim == 3:
        fed = r[2][int(r[1].argmax())][None]
        compare(ref, ours, **dict(kwargs, mask_input=fed, multimask_output=False))
