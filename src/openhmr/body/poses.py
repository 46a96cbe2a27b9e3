"""A few named SMPL poses (axis-angle, radians) for demos and tests."""

from __future__ import annotations

import math

import torch

from openhmr.body.keypoints import SMPL_JOINT_NAMES
from openhmr.errors import OpenHMRError

_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
# joint -> axis-angle; arms point along ±x in the rest T-pose, the body faces +z, y is up
_NAMED = {
    "t": {},
    "a": {"left_shoulder": (0, 0, -math.radians(50)), "right_shoulder": (0, 0, math.radians(50))},
    "walk": {
        "left_hip": (-math.radians(30), 0, 0),
        "right_hip": (math.radians(20), 0, 0),
        "left_knee": (math.radians(10), 0, 0),
        "right_knee": (math.radians(40), 0, 0),
        "left_shoulder": (0, 0, -math.radians(70)),
        "right_shoulder": (0, 0, math.radians(70)),
        "left_elbow": (0, -math.radians(30), 0),
        "right_elbow": (0, math.radians(30), 0),
    },
}
POSE_NAMES = (*_NAMED, "random")


def named_pose(
    name: str,
    batch: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Axis-angle pose (batch, 24, 3) by name: "t" (zero pose), "a" (arms down), "walk", or
    "random" (each joint N(0, 0.2²) rad per axis from `generator`; root unrotated)."""
    if name == "random":
        pose = 0.2 * torch.randn(batch, 24, 3, generator=generator)
        pose[:, 0] = 0
        return pose
    if name not in _NAMED:
        raise OpenHMRError(f"pose name: expected one of {POSE_NAMES}, got {name!r}")
    pose = torch.zeros(batch, 24, 3)
    for joint, value in _NAMED[name].items():
        pose[:, _J[joint]] = torch.tensor(value)
    return pose
