"""The clip batch contract: ClipExampleDataset + collate_clips with StreamBatchSampler and WeightedMixture."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from samkit.data import DatasetSpec, StreamBatchSampler, WeightedMixture
from samkit.data.clip_loading import ClipBatch, ClipExampleDataset, build_clip_sources, collate_clips
from samkit.data.clip_transforms import SAM2_PIXEL_MEAN, SAM2_PIXEL_STD, ClipAugmentConfig, transform_clip
from samkit.data.clips import RawClip
from samkit.data.still_clips import StillClipSource
from samkit.data.video_datasets import VideoClipSource
from samkit.errors import InputError, SamkitError

from clip_layouts import write_ytvos

S = 48
NO_AUG = ClipAugmentConfig(hflip_prob=0.0, rotation_deg=0.0, shear_deg=0.0, crop_area_min=1.0, brightness=0.0,
                           contrast=0.0, saturation=0.0, grayscale_prob=0.0, frame_brightness=0.0,
                           frame_contrast=0.0, frame_saturation=0.0)


def write_label_maps(root, n_images=3):
    """images/i.png (30 x 40) with 1 to 3 instances of 6 x 8 px in labels/i.png."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n_images):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3)).astype(np.uint8)).save(root / "images" / f"{i}.png")
        lab = np.zeros((30, 40), np.uint8)
        for k in range(1 + i % 3):
            lab[4 + 8 * k:10 + 8 * k, 6 + 10 * k:14 + 10 * k] = k + 1
        Image.fromarray(lab).save(root / "labels" / f"{i}.png")
    return root


def still_clip(t=3, n_obj=2, h=30, w=40):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (h, w, 3)).astype(np.uint8)] * t
    masks = np.zeros((t, n_obj, h, w), bool)
    for o in range(n_obj):
        masks[:, o, 5 + 10 * o:12 + 10 * o, 8:20] = True
    return RawClip(frames, masks, tuple(range(10, 10 + n_obj)), "test/clip@00000+1")


def test_normalisation_constants_are_sam2s():
    from samkit.inference.sam2_transforms import IMAGE_MEAN, IMAGE_STD

    assert SAM2_PIXEL_MEAN == IMAGE_MEAN and SAM2_PIXEL_STD == IMAGE_STD


def test_without_augmentation_frames_are_exactly_sam2_transforms_input():
    from samkit.inference.sam2_transforms import SAM2Transforms

    clip = still_clip()
    ex = transform_clip(clip, S, np.random.default_rng(0), None, max_objects=3, min_mask_area_px=1)
    expected = SAM2Transforms(S, 0.0)(clip.frames[0])
    assert ex["images"].shape == (3, 3, S, S) and ex["images"].dtype == torch.float32
    assert torch.allclose(ex["images"][0], expected, atol=1e-6)
    # masks: 7 x 12 px in a 30 x 40 frame -> about (7 * 48/30) x (12 * 48/40) in the square input
    assert ex["masks"].dtype == torch.bool and abs(int(ex["masks"][0, 0].sum()) - 11 * 14) <= 30


def test_augmentation_is_the_same_on_every_frame():
    clip = still_clip(t=4)
    consistent = ClipAugmentConfig(hflip_prob=0.5, crop_area_min=0.5, frame_brightness=0.0, frame_contrast=0.0,
                                   frame_saturation=0.0, grayscale_prob=0.5)
    flips = set()
    for seed in range(12):
        ex = transform_clip(clip, S, np.random.default_rng(seed), consistent, 3, 1)
        for t in range(1, 4):
            assert torch.equal(ex["images"][t], ex["images"][0]) and torch.equal(ex["masks"][t], ex["masks"][0])
        flips.add(bool(ex["masks"][0, :, :, : S // 2].sum() < ex["masks"][0, :, :, S // 2:].sum()))
    assert flips == {True, False}  # the objects sit on the left: a flip puts them right
    per_frame = transform_clip(clip, S, np.random.default_rng(0), ClipAugmentConfig(), 3, 1)
    assert not torch.equal(per_frame["images"][1], per_frame["images"][0])  # per-frame jitter differs
    assert torch.equal(per_frame["masks"][1], per_frame["masks"][0])  # ... but geometry does not
    flipped = transform_clip(clip, S, np.random.default_rng(0), ClipAugmentConfig(**{**NO_AUG.__dict__, "hflip_prob": 1.0}), 3, 1)
    plain = transform_clip(clip, S, np.random.default_rng(0), None, 3, 1)
    assert torch.allclose(flipped["images"], plain["images"].flip(-1), atol=1e-4)  # float rounding only
    assert torch.equal(flipped["masks"], plain["masks"].flip(-1))


def test_small_objects_are_dropped_and_max_objects_kept():
    clip = still_clip(t=2, n_obj=3)
    ex = transform_clip(clip, S, np.random.default_rng(0), None, max_objects=2, min_mask_area_px=1)
    assert ex["object_ids"] == (10, 11) and ex["masks"].shape == (2, 2, S, S)
    clip.masks[0, 0] = False
    clip.masks[0, 0, 0, 0] = True  # object 10 is a speck on frame 0: it cannot take the first prompt
    ex = transform_clip(clip, S, np.random.default_rng(0), None, max_objects=2, min_mask_area_px=16)
    assert ex["object_ids"] == (11, 12)


def test_collate_pads_objects_with_invalid_slots():
    a = transform_clip(still_clip(n_obj=1), S, np.random.default_rng(0), None, 3, 1)
    b = transform_clip(still_clip(n_obj=3), S, np.random.default_rng(0), None, 3, 1)
    batch = collate_clips([a, b])
    assert isinstance(batch, ClipBatch)
    assert batch.images.shape == (2, 3, 3, S, S) and batch.images.dtype == torch.float32
    assert batch.masks.shape == (2, 3, 3, S, S) and batch.masks.dtype == torch.bool
    assert batch.valid.tolist() == [[True, False, False], [True, True, True]]
    assert not batch.masks[0, :, 1:].any() and torch.equal(batch.masks[0, :, 0], a["masks"][:, 0])
    assert batch.keys == ["test/clip@00000+1"] * 2 and batch.object_ids == [(10,), (10, 11, 12)]
    images, masks, valid, seed = batch.to("cpu").step_args(5)
    assert images is not None and masks.shape == batch.masks.shape and valid.shape == (2, 3) and seed == 5
    short = transform_clip(still_clip(t=2), S, np.random.default_rng(0), None, 3, 1)
    with pytest.raises(SamkitError, match="T = 3"):
        collate_clips([a, short])


def test_mixture_of_video_and_photos_follows_the_contract(tmp_path):
    specs = [DatasetSpec(str(write_ytvos(tmp_path / "ytvos"))), DatasetSpec(str(write_label_maps(tmp_path / "maps")))]
    sources = build_clip_sources(specs, num_frames=3, max_objects=2, min_side_px=S)
    assert isinstance(sources[0], VideoClipSource) and isinstance(sources[1], StillClipSource)
    data = ClipExampleDataset(WeightedMixture(sources, [1.0, 1.0], 12, seed=0), S, ClipAugmentConfig(), num_frames=3,
                              max_objects=2, min_mask_area_px=16)
    loader = DataLoader(data, batch_sampler=StreamBatchSampler(len(data), 4, seed=3), collate_fn=collate_clips)
    batches = [b for b, _ in zip(loader, range(3))]
    kinds = set()
    for batch in batches:
        assert batch.images.shape[:3] == (4, 3, 3) and batch.masks.shape[:2] == (4, 3) and batch.masks.shape[2] <= 2
        first_area = batch.masks[:, 0].flatten(2).sum(2)
        assert ((first_area >= 16) == batch.valid).all()  # every valid object has >= 16 px on frame 0; pads none
        assert not batch.masks[~batch.valid.unsqueeze(1).expand(-1, 3, -1)].any()
        kinds |= {"video" if "@affine" not in k else "photo" for k in batch.keys}
    assert kinds == {"video", "photo"}
    # the stream is deterministic: resuming at position 4 repeats the second batch exactly
    resumed = next(iter(DataLoader(data, batch_sampler=StreamBatchSampler(len(data), 4, seed=3, start_position=4),
                                   collate_fn=collate_clips)))
    assert resumed.keys == batches[1].keys and torch.equal(resumed.images, batches[1].images)
    assert torch.equal(resumed.masks, batches[1].masks)


def test_same_index_and_seed_give_identical_tensors(tmp_path):
    (source,) = build_clip_sources([DatasetSpec(str(write_ytvos(tmp_path)))], num_frames=3)
    data = ClipExampleDataset(source, S, ClipAugmentConfig(), num_frames=3)
    a, b = data[(0, 11)], data[(0, 11)]
    assert a["key"] == b["key"] and torch.equal(a["images"], b["images"]) and torch.equal(a["masks"], b["masks"])
    others = [data[(0, s)] for s in range(12, 16)]
    assert any(not torch.equal(o["images"], a["images"]) for o in others)


def test_unreadable_items_are_skipped(tmp_path):
    root = write_label_maps(tmp_path, n_images=3)
    (root / "labels" / "0.png").write_bytes(b"broken")
    (source,) = build_clip_sources([DatasetSpec(str(root))], num_frames=2)
    data = ClipExampleDataset(source, S, None, num_frames=2, max_tries=2)
    assert data[(0, 1)]["key"].endswith("/1.png@affine")
    (root / "labels" / "1.png").write_bytes(b"broken")
    with pytest.raises(SamkitError, match="2 consecutive"):
        data[(0, 1)]


def test_sources_without_masks_and_wrong_frame_counts_are_errors(tmp_path):
    (tmp_path / "pics").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "pics" / "a.png")
    with pytest.raises(InputError, match="without masks"):
        build_clip_sources([DatasetSpec(str(tmp_path / "pics"))], num_frames=2)
    (source,) = build_clip_sources([DatasetSpec(str(write_label_maps(tmp_path / "m")))], num_frames=2)
    with pytest.raises(SamkitError, match="the run uses 4"):
        ClipExampleDataset(source, S, None, num_frames=4, max_tries=1)[(0, 0)]
