"""Clip batches for SAM 2 training: the example dataset over clip sources, collation, and building
clip sources from dataset specs.

Public API (used like ExampleDataset / collate_examples with StreamBatchSampler + WeightedMixture):

    build_clip_sources(specs, num_frames, max_objects=3, *, max_stride=2, reverse_time_prob=0.0,
                       motion=StillMotion(), min_side_px=None) -> list[clip source]
        DatasetSpecs -> one clip source per spec: video formats (davis, youtube_vos, sa_v) give
        VideoClipSource (one item per video), image formats (coco, coco_panoptic, sa1b,
        label_maps, object_masks, labpics) give StillClipSource (one item per photo, moved by a
        random affine motion when num_frames > 1). Sources have len, name, issues and
        split(val_fraction, seed) -> (train, val) (videos stay whole). Weights: spec.weight.
    ClipExampleDataset(base, img_size, augment: ClipAugmentConfig | None, num_frames, max_objects=3,
                       min_mask_area_px=16, max_tries=8, augment_tries=3)
        item (index, seed) -> {"images": T x 3 x S x S, "masks": T x O x S x S, "key", "object_ids"}
    collate_clips(examples) -> ClipBatch (images B x T x 3 x S x S, masks B x T x O x S x S,
                                          valid B x O, keys, object_ids)

e.g.  sources = build_clip_sources(cfg.data.train, T, 3, min_side_px=S)
      data = ClipExampleDataset(WeightedMixture(sources, weights, length, seed), S, ClipAugmentConfig(), T)
      DataLoader(data, batch_sampler=StreamBatchSampler(len(data), B, seed, ...), collate_fn=collate_clips)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch.utils.data import Dataset

from samkit.data.clip_transforms import ClipAugmentConfig, transform_clip
from samkit.data.clips import ClipSampling
from samkit.data.specs import DatasetSpec, build_dataset, detect_format
from samkit.data.still_clips import StillClipSource, StillMotion
from samkit.data.video_datasets import VIDEO_FORMATS, VideoClipSource
from samkit.errors import InputError, SamkitError

log = logging.getLogger("samkit.data")


@dataclass
class ClipBatch:
    """images: B x T x 3 x S x S float32, SAM 2 normalisation, square resize to S. masks: B x T x O x S x S
    bool, GT of object o on frame t (all False where absent). valid: B x O bool, real objects (clips
    with fewer objects are padded with False). keys: B clip names, "source/video@first+stride".
    object_ids: B tuples, the ids of each clip's valid objects."""

    images: torch.Tensor
    masks: torch.Tensor
    valid: torch.Tensor
    keys: list[str]
    object_ids: list = field(default_factory=list)

    def step_args(self, seed: int) -> tuple:
        return self.images, self.masks, self.valid, seed

    def to(self, device) -> "ClipBatch":
        return ClipBatch(self.images.to(device), self.masks.to(device), self.valid.to(device), self.keys,
                         self.object_ids)


class ClipExampleDataset(Dataset):
    """Wraps a clip source (or a WeightedMixture of them): item (index, seed) -> `transform_clip` output.

    Everything random (frames, objects, motion, augmentation) comes from a generator seeded by
    `seed`, so an item is the same every time it is drawn. A clip whose objects all fall below
    min_mask_area_px on frame 0 is drawn again (augment_tries - 1 times, the last without
    augmentation); an item that cannot be read or yields no object is logged and replaced by the
    next item (at most max_tries in a row), so one bad video does not end a long run.
    """

    def __init__(self, base, img_size: int, augment: ClipAugmentConfig | None, num_frames: int,
                 max_objects: int = 3, min_mask_area_px: int = 16, max_tries: int = 8, augment_tries: int = 3):
        if len(base) == 0:
            raise SamkitError("the clip training set is empty")
        self.base, self.img_size, self.augment, self.num_frames = base, img_size, augment, num_frames
        self.max_objects, self.min_mask_area_px = max_objects, min_mask_area_px
        self.max_tries, self.augment_tries = max_tries, max(1, augment_tries)

    def __len__(self) -> int:
        return len(self.base)

    def _example(self, item, rng: np.random.Generator) -> dict:
        for attempt in range(self.augment_tries):
            clip = item.sample(rng)
            if clip.num_frames != self.num_frames:
                raise SamkitError(f"{clip.key}: {clip.num_frames} frames, the run uses {self.num_frames}")
            augment = self.augment if attempt < self.augment_tries - 1 else None
            ex = transform_clip(clip, self.img_size, rng, augment, self.max_objects, self.min_mask_area_px)
            if ex["masks"].shape[1] > 0:
                return ex
        raise SamkitError(f"{item.key}: no object keeps {self.min_mask_area_px} px on the first frame of "
                          f"{self.augment_tries} sampled clips")

    def __getitem__(self, item) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, item)
        rng = np.random.default_rng(seed)
        last_error = None
        for attempt in range(self.max_tries):
            i = (index + attempt) % len(self.base)
            try:
                return self._example(self.base[i], rng)
            except (SamkitError, OSError, ValueError) as e:
                log.warning("skipping unusable training clip %d: %s", i, e)
                last_error = e
        raise SamkitError(f"{self.max_tries} consecutive training clips could not be used; last error: {last_error}")


def collate_clips(examples: list[dict]) -> ClipBatch:
    """Stacks clips of one T and S; pads the object axis to the largest O with all-False masks."""
    if not examples:
        raise SamkitError("cannot collate an empty list of clips")
    t, _, s, _ = examples[0]["masks"].shape
    num_objects = max(ex["masks"].shape[1] for ex in examples)
    masks = torch.zeros((len(examples), t, num_objects, s, s), dtype=torch.bool)
    valid = torch.zeros((len(examples), num_objects), dtype=torch.bool)
    for b, ex in enumerate(examples):
        if ex["masks"].shape[0] != t or ex["masks"].shape[2:] != (s, s):
            raise SamkitError(f"{ex['key']}: clip masks {tuple(ex['masks'].shape)} do not match the batch's "
                              f"T = {t}, S = {s}")
        o = ex["masks"].shape[1]
        masks[b, :, :o] = ex["masks"]
        valid[b, :o] = True
    return ClipBatch(torch.stack([ex["images"] for ex in examples]), masks, valid,
                     [ex["key"] for ex in examples], [ex["object_ids"] for ex in examples])


def build_clip_source(spec: DatasetSpec, sampling: ClipSampling, motion: StillMotion = StillMotion(),
                      min_side_px: int | None = None):
    """One DatasetSpec -> a VideoClipSource (video formats) or a StillClipSource (image formats)."""
    spec = replace(spec, path=os.path.expanduser(os.path.expandvars(spec.path)))
    if spec.format == "auto":
        spec = detect_format(spec)
    if spec.format in VIDEO_FORMATS:
        if not isinstance(spec.frame_stride, int) or spec.frame_stride < 1:
            raise InputError(f"dataset {spec.path}: frame_stride must be an integer >= 1, got {spec.frame_stride!r}")
        if spec.split or spec.kinds:
            raise InputError(f"dataset {spec.path}: `split` and `kinds` apply to the labpics format only")
        return VideoClipSource(spec.path, spec.format, sampling, spec.frame_stride)
    images = build_dataset(spec)
    if not getattr(images, "has_masks", True):
        raise InputError(f"{spec.path} holds images without masks: SAM 2 training needs masks to prompt")
    # Photos have no frame order, so stride and time reversal do not apply to them.
    return StillClipSource(images, replace(sampling, max_stride=1, reverse_time_prob=0.0), motion, min_side_px)


def build_clip_sources(specs, num_frames: int, max_objects: int = 3, *, max_stride: int = 2,
                       reverse_time_prob: float = 0.0, motion: StillMotion = StillMotion(),
                       min_side_px: int | None = None) -> list:
    """DatasetSpecs -> clip sources (see the module docstring); min_side_px: shrink photos whose
    shorter side is larger (the model's image size is a good choice)."""
    sampling = ClipSampling(num_frames, max_objects, max_stride, reverse_time_prob)
    sources = []
    for spec in specs:
        source = build_clip_source(spec, sampling, motion, min_side_px)
        if source.issues:
            log.warning("%s: %d malformed items skipped (see .issues)", source.name, len(source.issues))
        if len(source) == 0:
            raise InputError(f"clip source {spec.path} has no usable video or image")
        sources.append(source)
    return sources
