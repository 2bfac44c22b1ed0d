"""The data order of a resumable run, independent of DataLoader workers and of where a run started.

* the batches of epoch ``e`` are a permutation drawn from ``(seed, e)``
  (:class:`EpochBatchSampler`), which a resumed run enters at the saved position;
* every sample's random augmentation draws come from torch's RNG seeded with
  ``(seed, e, index)`` inside ``torch.random.fork_rng()`` (:class:`SeededSamples`), so
  neither the worker that loads it nor the samples loaded before it matter;
* the DataLoader has its own generator (it never draws from the global RNG) and its workers
  leave SIGINT and SIGTERM to the main process (:func:`seeded_loader`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dnn_suite import signals

_U64 = 0xFFFF_FFFF_FFFF_FFFF


def derived_seed(*entropy: int) -> int:
    """A well-mixed 64-bit seed from non-negative integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, dtype=np.uint64)[0])


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentation in one epoch."""
    return derived_seed(seed & _U64, 1, epoch, index)


class SeededSamples(Dataset):
    """``dataset[index]`` for keys ``(epoch, index)``, with torch's RNG seeded from (seed, epoch, index).

    The transforms draw their randomness (flip, scale jitter, crop) from torch's global RNG;
    seeding it per sample inside ``fork_rng`` makes each sample's augmentation a pure function
    of the key, whichever process loads it and whatever was loaded before.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, epoch, index))
            return self.dataset[index]


class EpochBatchSampler:
    """Batches of ``(epoch, index)`` keys: epoch ``epoch``'s permutation from batch ``start`` on.

    The permutation depends on ``(seed, epoch)`` only; the last incomplete batch is dropped.
    With ``world_size`` processes the permutation is cut into global batches of ``batch_size x
    world_size`` keys and rank ``rank`` gets its ``batch_size`` of each; ``start`` counts global
    batches. Set ``epoch`` and ``start`` before each ``iter(loader)`` (the loader's persistent
    workers only ever see the keys).
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start = 0

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    @property
    def batches_per_epoch(self) -> int:
        return self.size // self.global_batch_size

    def permutation(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(derived_seed(self.seed & _U64, 0, epoch))
        return torch.randperm(self.size, generator=generator).tolist()

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self.permutation(self.epoch)
        for b in range(self.start, self.batches_per_epoch):
            first = b * self.global_batch_size + self.rank * self.batch_size
            yield [(self.epoch, i) for i in order[first:first + self.batch_size]]


def seeded_loader(dataset: Dataset, sampler: EpochBatchSampler, settings: dict[str, Any], seed: int,
                  collate_fn: Callable[[list[Any]], Any]) -> DataLoader:
    """The training loader over ``sampler``'s keys; ``settings`` is the run's ``data_loader``."""
    workers = settings["workers"]
    return DataLoader(SeededSamples(dataset, seed), batch_sampler=sampler, num_workers=workers,
                      collate_fn=collate_fn, pin_memory=settings["pin_memory"],
                      prefetch_factor=settings["prefetch_factor"], persistent_workers=settings["persistent_workers"],
                      worker_init_fn=signals.ignore_in_worker if workers else None,
                      generator=torch.Generator().manual_seed(seed))
