"""Shared test fixtures: small random SMPL-format models written in the real file layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def random_smpl_arrays(
    num_vertices: int = 60, num_betas: int = 10, seed: int = 0, num_faces: int = 40
) -> dict[str, np.ndarray]:
    """A random model with SMPL's keys, shapes and kinematic tree (official `.pkl` layout:
    kintree root stored as 2**32 - 1, posedirs (V, 3, 207))."""
    rng = np.random.default_rng(seed)
    joint_regressor = rng.random((24, num_vertices)) * (rng.random((24, num_vertices)) < 0.3)
    joint_regressor[:, 0] += 1e-3
    joint_regressor /= joint_regressor.sum(1, keepdims=True)
    weights = rng.random((num_vertices, 24)) ** 4
    weights /= weights.sum(1, keepdims=True)
    kintree = np.array([[2**32 - 1, *SMPL_PARENTS[1:]], list(range(24))], dtype=np.int64)
    return {
        "v_template": rng.normal(0, 0.5, (num_vertices, 3)),
        "shapedirs": rng.normal(0, 0.02, (num_vertices, 3, num_betas)),
        "posedirs": rng.normal(0, 0.01, (num_vertices, 3, 207)),
        "J_regressor": joint_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, num_vertices, (num_faces, 3)).astype(np.uint32),
    }


@pytest.fixture
def smpl_arrays() -> dict[str, np.ndarray]:
    return random_smpl_arrays()


@pytest.fixture
def smplx_npz(tmp_path: Path, smpl_arrays: dict[str, np.ndarray]) -> Path:
    """The random model as an smplx-convention `.npz`, with a 19-row keypoint regressor."""
    path = tmp_path / "model.npz"
    rng = np.random.default_rng(1)
    regressor = rng.random((19, smpl_arrays["v_template"].shape[0]))
    regressor /= regressor.sum(1, keepdims=True)
    np.savez(path, **smpl_arrays, keypoint_regressor=regressor)
    return path
