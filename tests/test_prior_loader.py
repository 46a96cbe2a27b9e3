"""The discriminator's mocap stream and deterministic loaders (same batches for 0 or 2 workers),
over real record crops when ../shared/data/lspet is present."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openhmr.data.augment import AugmentConfig
from openhmr.data.converters import CONVERTERS
from openhmr.data.dataset import RecordDataset
from openhmr.data.mixing import MixedBatchSampler, MixedDataset
from openhmr.data.mocap import PoseSet
from openhmr.data.prior import MocapDataset, make_loader
from openhmr.data.records import load_index
from openhmr.errors import OpenHMRError
from tests.conftest import SHARED_DATA


def pose_set(n: int, with_betas: bool) -> PoseSet:
    rng = np.random.default_rng(0)
    return PoseSet(
        poses=rng.normal(size=(n, 72)).astype(np.float32),
        source=np.zeros(n, int),
        sources=("toy.bvh",),
        betas=rng.normal(size=(n, 10)).astype(np.float32) if with_betas else None,
    )


def test_mocap_rows_and_betas():
    shaped = pose_set(20, True)
    data = MocapDataset(shaped)
    np.testing.assert_array_equal(data[3]["pose"].numpy(), shaped.poses[3])
    np.testing.assert_array_equal(data[3]["betas"].numpy(), shaped.betas[3])
    bare = MocapDataset(pose_set(500, False), seed=1)
    betas = torch.stack([bare[i]["betas"] for i in range(500)])
    assert torch.equal(bare[7]["betas"], betas[7])  # a row keeps its β
    assert abs(float(betas.mean())) < 0.1 and abs(float(betas.std()) - 1) < 0.1
    with pytest.raises(OpenHMRError, match="empty"):
        MocapDataset(pose_set(0, False))


def test_loader_batches_do_not_depend_on_workers():
    data = MocapDataset(pose_set(64, False))
    runs = [
        [b["pose"] for b in make_loader(data, batch_size=8, shuffle=True, workers=w, seed=5)]
        for w in (0, 2)
    ]
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


@pytest.mark.skipif(
    not (SHARED_DATA / "lspet" / "joints.mat").exists(), reason="needs ../shared/data/lspet"
)
def test_mixed_loader_over_real_crops_is_deterministic(tmp_path):
    (train,) = CONVERTERS["lspet"](SHARED_DATA / "lspet", tmp_path)
    index = load_index(train)
    halves = [index.subset(slice(0, 40)), index.subset(slice(40, 70))]
    dataset = MixedDataset([RecordDataset(h, AugmentConfig(), seed=3) for h in halves])
    runs = []
    for workers in (0, 2):
        sampler = MixedBatchSampler([40, 30], [0.5, 0.5], batch_size=6, steps=3, seed=3)
        loader = make_loader(dataset, batch_sampler=sampler, workers=workers, seed=3)
        runs.append([batch["image"] for batch in loader])
    assert len(runs[0]) == 3 and runs[0][0].shape == (6, 3, 224, 224)
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))
