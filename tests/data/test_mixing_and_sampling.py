import numpy as np

from samkit.data import StreamBatchSampler, WeightedMixture


class Items(list):
    name = "items"


def test_weighted_mixture_follows_weights_and_is_deterministic():
    a, b = Items(f"a{i}" for i in range(5)), Items(f"b{i}" for i in range(50))
    mix = WeightedMixture([a, b], [3.0, 1.0], length=4000, seed=1)
    drawn = [mix[i] for i in range(4000)]
    share_a = sum(x.startswith("a") for x in drawn) / len(drawn)
    assert abs(share_a - 0.75) < 0.03  # by weight, not by dataset size
    assert drawn == [WeightedMixture([a, b], [3.0, 1.0], 4000, seed=1)[i] for i in range(4000)]
    assert {x for x in drawn if x.startswith("a")} == set(a)


def test_sampler_epochs_cover_every_item_once():
    s = StreamBatchSampler(10, 5, seed=0)
    it = iter(s)
    first_epoch = [i for _ in range(2) for i, _ in next(it)]
    assert sorted(first_epoch) == list(range(10))
    second = [i for _ in range(2) for i, _ in next(it)]
    assert sorted(second) == list(range(10)) and second != first_epoch


def test_sampler_resumes_at_a_position_and_ranks_are_disjoint():
    full = iter(StreamBatchSampler(7, 2, seed=3))
    batches = [next(full) for _ in range(6)]
    resumed = iter(StreamBatchSampler(7, 2, seed=3, start_position=6))
    assert [next(resumed) for _ in range(3)] == batches[3:]
    r0 = iter(StreamBatchSampler(7, 2, seed=3, rank=0, world_size=2))
    r1 = iter(StreamBatchSampler(7, 2, seed=3, rank=1, world_size=2))
    b0, b1 = next(r0), next(r1)
    assert b0 + b1 == batches[0] + batches[1]  # the two ranks split the single-process stream
    seeds = [seed for b in batches for _, seed in b]
    assert len(set(seeds)) == len(seeds)  # each position its own augmentation seed
