"""A built-in SMPL pose sampler that stays inside documented per-joint limits
(`openhmr.body.limits`, which holds the table and the axis meanings).

Each joint's local rotation is sampled per axis as a normal N(0, ((hi − lo)/4)²) clipped to
[lo, hi] (radians), so most poses are moderate and extremes are rare; the three angles form the
joint's axis-angle vector.
"""

from __future__ import annotations

import numpy as np

from openhmr.body.limits import JOINT_LIMITS, joint_limits

__all__ = ["JOINT_LIMITS", "joint_limits", "sample_poses"]


def sample_poses(
    count: int,
    rng: np.random.Generator,
    limits: np.ndarray = JOINT_LIMITS,
) -> np.ndarray:
    """(count, 24, 3) axis-angle poses with the root unrotated, every other joint's per-axis
    angle ~ N(0, ((hi − lo)/4)²) clipped to its limits."""
    low, high = limits[..., 0], limits[..., 1]  # 24 x 3
    angles = rng.normal(0.0, 1.0, (count, 24, 3)) * (high - low) / 4.0
    return np.clip(angles, low, high)
