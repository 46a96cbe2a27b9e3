"""The paper's batches: a fixed share of every batch from each dataset (e.g. half in-the-wild
2D, half 3D), drawn with replacement-free shuffles per dataset, deterministic per seed and
epoch, and disjoint across DDP ranks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from openhmr.errors import OpenHMRError


def batch_shares(ratios: Sequence[float], batch_size: int) -> list[int]:
    """Samples per dataset in one batch: `ratios` scaled to `batch_size` by largest remainder,
    every dataset with a positive ratio getting at least one when the batch allows."""
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.ndim != 1 or len(ratios) == 0 or (ratios < 0).any() or ratios.sum() <= 0:
        raise OpenHMRError(
            f"mixing ratios must be non-negative with a positive sum, got {ratios.tolist()}"
        )
    exact = ratios / ratios.sum() * batch_size
    shares = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - shares), kind="stable")[: batch_size - shares.sum()]:
        shares[i] += 1
    return shares.tolist()


class MixedBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of indices into `torch.utils.data.ConcatDataset(datasets)`.

    sizes: length of each dataset; ratios: share of each batch per dataset; batches: per epoch
    (default: enough for the largest dataset's share to see all its samples once). Each
    dataset is walked in its own shuffled order (reshuffled when exhausted), seeded by
    (seed, epoch, dataset, rank); rank/world_size split the work for DDP.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        ratios: Sequence[float],
        batch_size: int,
        batches: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(sizes) != len(ratios):
            raise OpenHMRError(f"{len(sizes)} datasets but {len(ratios)} mixing ratios")
        self.sizes = [int(s) for s in sizes]
        self.shares = batch_shares(ratios, batch_size)
        for size, share in zip(self.sizes, self.shares, strict=True):
            if share and size == 0:
                raise OpenHMRError("a dataset with a positive mixing ratio is empty")
        self.offsets = np.cumsum([0, *self.sizes[:-1]]).tolist()
        if batches is None:
            batches = max(
                -(-size // (share * world_size))
                for size, share in zip(self.sizes, self.shares, strict=True)
                if share
            )
        self.batches = int(batches)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches

    def _stream(self, dataset: int) -> Iterator[int]:
        lap = 0
        while True:
            rng = np.random.default_rng([self.seed, self.epoch, dataset, lap])
            order = rng.permutation(self.sizes[dataset])
            # rank r takes every world_size-th element, so ranks never share a sample
            yield from (int(i) + self.offsets[dataset] for i in order[self.rank :: self.world_size])
            lap += 1

    def __iter__(self) -> Iterator[list[int]]:
        streams = [self._stream(d) for d in range(len(self.sizes))]
        for _ in range(self.batches):
            yield [next(streams[d]) for d, share in enumerate(self.shares) for _ in range(share)]
