"""Deterministic, resumable batching: a position-based stream sampler, the example dataset that
applies `prepare_example`, and the collate function.

The sampler is stateless apart from one integer, the *stream position* (how many examples all
ranks together have consumed). Position p maps to epoch p // N, the item perm_epoch[p % N] (perm
seeded by (seed, epoch)) and an augmentation seed derived from (seed, p). Resuming at a saved
position, or running on a different number of DataLoader workers, sees exactly the same examples;
rank r of W takes positions p + r*B ... p + r*B + B-1 of each W*B block, so ranks never overlap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from samkit.data.transforms import AugmentConfig, prepare_example
from samkit.errors import SamkitError

log = logging.getLogger("samkit.data")


class StreamBatchSampler:
    """Yields micro-batches [(item index, augmentation seed), ...] forever, from `start_position`."""

    def __init__(self, num_items: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 start_position: int = 0, shuffle: bool = True):
        if num_items <= 0:
            raise SamkitError("the training set is empty: no image has a usable mask")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self.start_position = start_position
        self._perms: dict[int, np.ndarray] = {}

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def item_at(self, position: int) -> tuple[int, int]:
        epoch, offset = divmod(position, self.num_items)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.num_items)
                           if self.shuffle else np.arange(self.num_items)}
        sample_seed = int(np.random.default_rng([self.seed, position, 7]).integers(2**62))
        return int(self._perms[epoch][offset]), sample_seed

    def __iter__(self):
        p = self.start_position
        while True:
            first = p + self.rank * self.batch_size
            yield [self.item_at(q) for q in range(first, first + self.batch_size)]
            p += self.global_batch


def read_skipping_bad(base, index: int, max_tries: int):
    """base[index], or the next readable item when it cannot be read (logged with the error), so one
    corrupt file does not end a long run; raises after `max_tries` consecutive failures."""
    last_error = None
    for attempt in range(max_tries):
        i = (index + attempt) % len(base)
        try:
            return base[i]
        except (SamkitError, OSError, ValueError) as e:
            log.warning("skipping unreadable training item %d: %s", i, e)
            last_error = e
    raise SamkitError(f"{max_tries} consecutive training items could not be read; last error: {last_error}")


class ExampleDataset(Dataset):
    """Wraps a dataset of InstanceSample: item (index, seed) -> `prepare_example` output.

    An image that cannot be read is logged with its file and replaced by the next item, so one
    corrupt file does not end a long run.
    """

    def __init__(self, base, img_size: int, pixel_mean, pixel_std, augment: AugmentConfig | None,
                 max_masks: int, min_mask_area_px: int, max_tries: int = 8):
        self.base, self.img_size = base, img_size
        self.pixel_mean, self.pixel_std = tuple(pixel_mean), tuple(pixel_std)
        self.augment, self.max_masks, self.min_mask_area_px = augment, max_masks, min_mask_area_px
        self.max_tries = max_tries

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, item) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, item)
        rng = np.random.default_rng(seed)
        sample = read_skipping_bad(self.base, index, self.max_tries)
        ex = prepare_example(sample, self.img_size, self.pixel_mean, self.pixel_std, rng, self.augment,
                             self.max_masks, self.min_mask_area_px)
        if len(ex["masks"]) == 0 and self.augment is not None:
            # The crop missed every instance: retry the same image without augmentation.
            ex = prepare_example(sample, self.img_size, self.pixel_mean, self.pixel_std, rng, None,
                                 self.max_masks, self.min_mask_area_px)
        return ex


@dataclass
class TrainBatch:
    """images: B x 3 x S x S (normalised, padded); masks: M x S x S bool (model-input frame);
    image_index: M, which image each mask belongs to; input_hw: B x 2 valid (unpadded) sizes."""

    images: torch.Tensor
    masks: torch.Tensor
    image_index: torch.Tensor
    input_hw: torch.Tensor
    keys: list[str]
    instance_ids: list[tuple]

    def step_args(self, seed: int) -> tuple:
        """Arguments of InteractiveSamStep.forward for this micro-batch."""
        return self.images, self.masks, self.image_index, self.input_hw, seed, self.keys

    def to(self, device) -> "TrainBatch":
        return TrainBatch(self.images.to(device), self.masks.to(device), self.image_index.to(device),
                          self.input_hw, self.keys, self.instance_ids)


def collate_examples(examples: list[dict]) -> TrainBatch:
    masks = [ex["masks"] for ex in examples]
    index = torch.cat([torch.full((len(m),), i, dtype=torch.long) for i, m in enumerate(masks)])
    return TrainBatch(
        images=torch.stack([ex["image"] for ex in examples]),
        masks=torch.cat(masks) if masks else torch.zeros(0),
        image_index=index,
        input_hw=torch.tensor([ex["input_hw"] for ex in examples], dtype=torch.long),
        keys=[ex["key"] for ex in examples],
        instance_ids=[ex["instance_ids"] for ex in examples],
    )
