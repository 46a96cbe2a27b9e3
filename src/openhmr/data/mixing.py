"""The paper's batches: a fixed share of every batch from each dataset (e.g. half in-the-wild
2D, half 3D), as a pure function of the training step.

Each dataset is walked in an endless stream of shuffled passes ("laps"); the batch of step s
takes, from dataset d, positions [s·n_d, (s + 1)·n_d) of that stream, where n_d is d's share.
Because a batch depends only on (seed, step, rank), training can stop and resume at any step and
see exactly the batches an uninterrupted run would; DDP ranks walk disjoint parts of each lap.
Keys are (dataset, row, lap) triples for `MixedDataset`, so augmentation can differ per lap.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from openhmr.errors import OpenHMRError

Key = tuple[int, int, int]


def batch_shares(ratios: Sequence[float], batch_size: int) -> list[int]:
    """Samples per dataset in one batch: `ratios` scaled to `batch_size` by largest remainder."""
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


class MixedBatchSampler(torch.utils.data.Sampler[list[Key]]):
    """Batches of (dataset, row, lap) keys for steps [start_step, steps).

    sizes: rows per dataset; ratios: share of each batch per dataset; seed: the data order;
    rank/world_size: this process's part of each lap under DDP.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        ratios: Sequence[float],
        batch_size: int,
        steps: int,
        start_step: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(sizes) != len(ratios):
            raise OpenHMRError(f"{len(sizes)} datasets but {len(ratios)} mixing ratios")
        self.sizes = [int(s) for s in sizes]
        self.shares = batch_shares(ratios, batch_size)
        self.per_rank = [len(range(rank, size, world_size)) for size in self.sizes]
        for size, share in zip(self.per_rank, self.shares, strict=True):
            if share and size == 0:
                raise OpenHMRError(
                    "a dataset with a positive mixing ratio has no rows for this rank"
                )
        self.steps, self.start_step = int(steps), int(start_step)
        self.seed, self.rank, self.world_size = seed, rank, world_size

    def __len__(self) -> int:
        return max(self.steps - self.start_step, 0)

    def _lap(self, dataset: int, lap: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, dataset, lap])
        return rng.permutation(self.sizes[dataset])[self.rank :: self.world_size]

    def batch(self, step: int) -> list[Key]:
        """The keys of `step`'s batch (a pure function of seed, step and rank)."""
        keys: list[Key] = []
        for dataset, share in enumerate(self.shares):
            if not share:
                continue
            size = self.per_rank[dataset]
            positions = np.arange(step * share, (step + 1) * share)
            for lap in np.unique(positions // size):
                order = self._lap(dataset, int(lap))
                offsets = positions[positions // size == lap] % size
                keys += [(dataset, int(order[o]), int(lap)) for o in offsets]
        return keys

    def __iter__(self) -> Iterator[list[Key]]:
        for step in range(self.start_step, self.steps):
            yield self.batch(step)


class MixedDataset(torch.utils.data.Dataset):
    """Several datasets behind (dataset, row, lap) keys. A dataset whose `__getitem__` takes
    (row, lap) (see `RecordDataset`) gets both; others get the row."""

    def __init__(self, datasets: Sequence[torch.utils.data.Dataset]) -> None:
        self.datasets = list(datasets)

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def __getitem__(self, key: Key) -> dict[str, torch.Tensor]:
        dataset, row, lap = key
        target = self.datasets[dataset]
        if getattr(target, "takes_lap", False):
            return target.get(row, lap)
        return target[row]
