"""Still photos made into clips by a random affine motion: masks move with the pixels, objects that
leave the frame become absent, T = 1 is the photo itself."""

import numpy as np
import pytest

from samkit.data import DatasetSpec, build_dataset
from samkit.data.affine_warp import FILL_RGB, affine_matrix
from samkit.data.clip_transforms import transform_clip
from samkit.data.clips import ClipSampling, RawClip
from samkit.data.records import InstanceSample
from samkit.data.still_clips import StillClipSource, StillMotion, affine_clip, random_motion

H, W = 40, 60


def photo() -> InstanceSample:
    """Noise background, a textured 10 x 10 object A near the centre and a 6 x 6 object B at the right edge."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (H, W, 3)).astype(np.uint8)
    img[15:25, 25:35] = rng.integers(150, 255, (10, 10, 3))
    masks = np.zeros((2, H, W), bool)
    masks[0, 15:25, 25:35] = True
    masks[1, 10:16, 52:58] = True
    return InstanceSample(img, masks, "/data/photo.png", (7, 9))


def test_masks_move_with_the_image():
    p = photo()
    matrices = np.stack([np.eye(3), affine_matrix(H, W, (4, -3)), affine_matrix(H, W, (-6, 5))])
    frames, masks = affine_clip(p.image_rgb, p.masks, matrices)
    assert np.array_equal(frames[0], p.image_rgb) and np.array_equal(masks[0], p.masks)
    for t, (dx, dy) in ((1, (4, -3)), (2, (-6, 5))):
        moved = np.roll(p.masks[0], (dy, dx), axis=(0, 1))
        assert np.array_equal(masks[t, 0], moved)
        assert np.array_equal(frames[t][moved], p.image_rgb[p.masks[0]])  # the object's pixels went with it
    # a rotation keeps image and mask together too: the warped mask covers the warped bright object
    rot = affine_matrix(H, W, rotation_deg=30, scale=1.2)
    frames, masks = affine_clip(p.image_rgb, p.masks[:1], np.stack([rot]))
    inside, outside = frames[0][masks[0, 0]].mean(), frames[0][~masks[0, 0] & (frames[0] != FILL_RGB).any(-1)].mean()
    assert inside > 140 and outside < 60 and 100 * 1.2**2 * 0.8 < masks[0, 0].sum() < 100 * 1.2**2 * 1.2


def test_object_pushed_out_of_view_becomes_absent():
    p = photo()
    matrices = np.stack([np.eye(3), affine_matrix(H, W, (5, 0)), affine_matrix(H, W, (12, 0))])
    frames, masks = affine_clip(p.image_rgb, p.masks, matrices)
    assert masks[1, 1].sum() == 6 * 3 and masks[2, 1].sum() == 0  # B slides off the right edge
    assert masks[2, 0].sum() == 100
    assert (frames[2][:, :12] == FILL_RGB).all()  # the uncovered strip holds the reference's fill colour
    # through the model-input transform it stays an all-False target while A is still tracked
    clip = RawClip(frames, masks, (7, 9), "photos/photo.png@affine")
    ex = transform_clip(clip, 32, np.random.default_rng(0), None, max_objects=3, min_mask_area_px=4)
    assert ex["object_ids"] == (7, 9) and ex["masks"].shape == (3, 2, 32, 32)
    assert ex["masks"][2, 1].sum() == 0 and ex["masks"][0, 1].sum() > 0 and ex["masks"][2, 0].sum() > 0


def test_random_motion_is_smooth_and_starts_at_the_photo():
    motion = StillMotion(max_shift_frac=0.2, max_zoom=1.3, max_rotation_deg=20, max_shear_deg=5)
    assert np.array_equal(random_motion(np.random.default_rng(0), 1, H, W, motion), np.eye(3)[None])
    for seed in range(20):
        m = random_motion(np.random.default_rng(seed), 8, H, W, motion)
        assert m.shape == (8, 3, 3) and np.allclose(m[0], np.eye(3))
        centre = np.array([W / 2, H / 2, 1.0])
        path = np.stack([mt @ centre for mt in m])[:, :2]
        steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
        # Bezier through bounded control points: the centre never moves more than the shift bound per
        # axis, and no step is more than twice the average one plus a little (no jumps)
        assert (np.abs(path - centre[:2]) <= np.array([0.2 * W, 0.2 * H]) + 1e-6).all()
        assert steps.max() <= 2 * steps.mean() + 1.0
    a = random_motion(np.random.default_rng(5), 4, H, W, motion)
    assert np.array_equal(a, random_motion(np.random.default_rng(5), 4, H, W, motion))
    with pytest.raises(ValueError, match="max_zoom"):
        StillMotion(max_zoom=0.5)


def test_still_clip_source_over_a_label_map_dataset(label_map_dir):
    images = build_dataset(DatasetSpec(str(label_map_dir)))
    source = StillClipSource(images, ClipSampling(num_frames=4, max_objects=2, spare_objects=0))
    assert len(source) == len(images) and source.name == images.name
    photo0 = images[0]
    clip = source[0].sample(np.random.default_rng(3))
    assert clip.key == f"{images.name}/0.png@affine" and len(clip.frames) == 4 and len(clip.object_ids) == 2
    assert np.array_equal(clip.frames[0], photo0.image_rgb)
    for o, oid in enumerate(clip.object_ids):
        assert np.array_equal(clip.masks[0, o], photo0.masks[photo0.instance_ids.index(oid)])
    assert not np.array_equal(clip.frames[3], clip.frames[0])
    single = StillClipSource(images, ClipSampling(num_frames=1))[0].sample(np.random.default_rng(3))
    assert single.key.endswith("0.png@still") and len(single.frames) == 1
    assert np.array_equal(single.frames[0], photo0.image_rgb) and len(single.object_ids) == 3
    tr, va = source.split(0.5, seed=1)
    assert len(tr) + len(va) == len(source) and tr.source == source.source


def test_large_photos_are_shrunk_before_warping():
    big = InstanceSample(np.zeros((400, 600, 3), np.uint8), np.ones((1, 400, 600), bool), "big.png", (1,))
    source = StillClipSource([big], ClipSampling(num_frames=2), min_side_px=100, name="x")
    clip = source[0].sample(np.random.default_rng(0))
    assert clip.frames[0].shape == (100, 150, 3) and clip.masks.shape == (2, 1, 100, 150)
