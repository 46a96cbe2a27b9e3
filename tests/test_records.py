"""The record format: round trip, the validator's messages, atomic writes; the mixing sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openhmr.data.mixing import MixedBatchSampler, batch_shares
from openhmr.data.records import RecordIndex, load_index, save_index
from openhmr.errors import OpenHMRError


def make_index(root: Path, n: int = 5, with_3d: bool = True) -> RecordIndex:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"img{i}.jpg" for i in range(n)]
    for name in names:
        (root / name).write_bytes(b"")
    return RecordIndex(
        imgname=np.array(names),
        center=rng.uniform(50, 100, (n, 2)),
        scale=rng.uniform(0.5, 1.5, n),
        keypoints2d=rng.uniform(0, 150, (n, 19, 3)),
        image_root=root,
        joints3d=rng.normal(size=(n, 14, 4)) if with_3d else None,
        pose=rng.normal(size=(n, 72)) if with_3d else None,
        betas=rng.normal(size=(n, 10)) if with_3d else None,
        has_smpl=np.ones(n, bool) if with_3d else None,
        meta={"dataset": "toy"},
    )


def test_round_trip_with_relative_image_root(tmp_path):
    index = make_index(tmp_path / "data" / "images")
    path = tmp_path / "data" / "toy_train.npz"
    save_index(path, index)
    moved = tmp_path / "moved"
    (tmp_path / "data").rename(moved)  # index and images move together
    back = load_index(moved / "toy_train.npz")
    assert back.image_root.resolve() == (moved / "images").resolve()
    np.testing.assert_array_equal(back.imgname, index.imgname)
    for name in ("center", "scale", "keypoints2d", "joints3d", "pose", "betas"):
        np.testing.assert_allclose(getattr(back, name), getattr(index, name), rtol=1e-6)
    assert back.has_smpl.dtype == bool and back.meta["dataset"] == "toy"
    two_d = make_index(tmp_path / "b", with_3d=False)
    save_index(tmp_path / "b.npz", two_d)
    assert load_index(tmp_path / "b.npz").joints3d is None


def test_validator_names_first_bad_field_and_row(tmp_path):
    index = make_index(tmp_path / "images")
    keypoints = index.keypoints2d.copy()
    keypoints[3, 7, 1] = np.nan
    from dataclasses import replace

    with pytest.raises(OpenHMRError, match="'keypoints2d' has NaN/inf in row 3"):
        save_index(tmp_path / "bad.npz", replace(index, keypoints2d=keypoints))
    assert not list(tmp_path.glob("*.npz")) and not list(tmp_path.glob(".*tmp"))
    with pytest.raises(OpenHMRError, match=r"'pose' must have shape \(5, 72\)"):
        save_index(tmp_path / "bad.npz", replace(index, pose=index.pose[:, :69]))
    save_index(tmp_path / "ok.npz", index)
    (tmp_path / "images" / "img2.jpg").unlink()
    with pytest.raises(OpenHMRError, match="row 2: image not found"):
        load_index(tmp_path / "ok.npz")
    with pytest.raises(OpenHMRError, match="record index not found"):
        load_index(tmp_path / "missing.npz")


def test_batch_shares():
    assert batch_shares([0.5, 0.5], 64) == [32, 32]
    assert batch_shares([0.3, 0.3, 0.4], 10) == [3, 3, 4]
    assert sum(batch_shares([1, 1, 1], 64)) == 64
    with pytest.raises(OpenHMRError, match="ratios"):
        batch_shares([0, 0], 8)


def test_mixed_batches_composition_resume_laps_and_ranks():
    sizes, ratios = [100, 37], [0.5, 0.5]
    sampler = MixedBatchSampler(sizes, ratios, batch_size=8, steps=60, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 60
    for batch in batches:
        assert [d for d, _, _ in batch] == [0] * 4 + [1] * 4
    first_lap = [row for b in batches[:25] for d, row, lap in b if d == 0]
    assert sorted(first_lap) == list(range(100))  # 25 steps × 4 = one pass over dataset 0
    assert {lap for b in batches[25:50] for d, _, lap in b if d == 0} == {1}
    laps_of_small = [(row, lap) for b in batches for d, row, lap in b if d == 1]
    assert sorted(r for r, lap in laps_of_small if lap == 0) == list(range(37))
    # a resumed sampler yields exactly the remaining batches of an uninterrupted run
    resumed = MixedBatchSampler(sizes, ratios, batch_size=8, steps=60, start_step=17, seed=3)
    assert list(resumed) == batches[17:]
    assert list(MixedBatchSampler(sizes, ratios, 8, steps=60, seed=4)) != batches
    ranks = [
        list(MixedBatchSampler(sizes, ratios, 8, steps=12, seed=3, rank=r, world_size=2))
        for r in (0, 1)
    ]
    seen = [{row for b in per_rank for d, row, _ in b if d == 0} for per_rank in ranks]
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 96
