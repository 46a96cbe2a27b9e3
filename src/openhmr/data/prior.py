"""The discriminator's data stream: unpaired (θ, β) samples from a pose set, and data loaders
with deterministic worker seeding."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from openhmr.data.mocap import PoseSet
from openhmr.errors import OpenHMRError


class MocapDataset(torch.utils.data.Dataset):
    """Rows of a pose set as {"pose": (72,), "betas": (10,)} float32 tensors.

    The discriminator judges the articulation, not the global orientation, so the root is kept
    as stored. Pose sets without shapes (BVH-derived ones) get β ~ N(0, I) clipped to ±3 — the
    body model's shape space has unit variance — drawn from a generator seeded by (seed, row),
    so a row always has the same β.
    """

    def __init__(self, pose_set: PoseSet, num_betas: int = 10, seed: int = 0) -> None:
        if len(pose_set) == 0:
            raise OpenHMRError("the mocap pose set is empty")
        self.poses = np.ascontiguousarray(pose_set.poses, dtype=np.float32).reshape(-1, 72)
        self.betas = None if pose_set.betas is None else pose_set.betas[:, :num_betas]
        self.num_betas, self.seed = num_betas, seed

    def __len__(self) -> int:
        return len(self.poses)

    def __getitem__(self, row: int) -> dict[str, torch.Tensor]:
        if self.betas is not None:
            betas = self.betas[row]
        else:
            rng = np.random.default_rng([self.seed, int(row)])
            betas = np.clip(rng.normal(0.0, 1.0, self.num_betas), -3.0, 3.0)
        return {
            "pose": torch.from_numpy(self.poses[row].copy()),
            "betas": torch.tensor(betas, dtype=torch.float32),
        }


def _seed_worker(worker_id: int) -> None:
    # numpy/random state of a worker follows torch's per-worker seed (itself from the loader's
    # generator), so any global randomness in a worker is reproducible too
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    import random

    random.seed(seed)


def make_loader(
    dataset: torch.utils.data.Dataset,
    *,
    batch_size: int | None = None,
    batch_sampler: Iterable[list[int]] | None = None,
    shuffle: bool = False,
    workers: int = 0,
    seed: int = 0,
    pin_memory: bool = False,
    drop_last: bool = True,
) -> torch.utils.data.DataLoader:
    """A DataLoader whose order and worker seeds come from `seed` alone (same batches whatever
    `workers`); give either batch_size (with shuffle) or a batch_sampler (e.g.
    `MixedBatchSampler`)."""
    generator = torch.Generator().manual_seed(seed)
    common = {
        "num_workers": workers,
        "pin_memory": pin_memory,
        "generator": generator,
        "worker_init_fn": _seed_worker,
        "persistent_workers": workers > 0,
    }
    if batch_sampler is not None:
        return torch.utils.data.DataLoader(dataset, batch_sampler=batch_sampler, **common)
    if batch_size is None:
        raise OpenHMRError("make_loader: give batch_size or batch_sampler")
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, **common
    )
