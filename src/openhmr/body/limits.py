"""Documented per-joint rotation limits of SMPL-format bodies (axis-angle components, radians).

Used by the synthetic pose sampler (`openhmr.synth.sample_poses`), the fitting stage's
joint-angle prior (`openhmr.fit`) and the joint-limit measure (`openhmr.evaluate`).

Axes are SMPL's rest frame (y up, body facing +z, subject's left on +x); each limit bounds
one component of a joint's local axis-angle vector. Right-side limits mirror the left's (y and
z negated). Axis meanings:

| joint | x | y | z |
| --- | --- | --- | --- |
| hips | − flexion (leg forward) / + extension | twist | ± ab/adduction (left +: outward) |
| knees | + flexion (shin back) | twist (small) | — |
| shoulders | twist along the arm | − forward / + back swing (left) | − lowers / + raises (left) |
| elbows | twist (small) | − flexion (left; + right) | — |
| spine, neck, head | + bend forward / − back | turn | side bend |
"""

from __future__ import annotations

import numpy as np

from openhmr.body.keypoints import SMPL_JOINT_NAMES

# joint: ((lo_x, hi_x), (lo_y, hi_y), (lo_z, hi_z)) in radians, for the LEFT side where sided
_LIMITS: dict[str, tuple[tuple[float, float], ...]] = {
    "pelvis": ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),  # the root is set by the camera sampler
    "spine1": ((-0.25, 0.5), (-0.3, 0.3), (-0.25, 0.25)),
    "spine2": ((-0.2, 0.4), (-0.3, 0.3), (-0.2, 0.2)),
    "spine3": ((-0.2, 0.3), (-0.3, 0.3), (-0.2, 0.2)),
    "neck": ((-0.4, 0.6), (-0.5, 0.5), (-0.3, 0.3)),
    "head": ((-0.4, 0.5), (-0.6, 0.6), (-0.3, 0.3)),
    "left_hip": ((-1.8, 0.45), (-0.5, 0.6), (-0.3, 0.9)),
    "left_knee": ((0.0, 2.3), (-0.1, 0.1), (-0.05, 0.05)),
    "left_ankle": ((-0.5, 0.6), (-0.3, 0.3), (-0.3, 0.3)),
    "left_foot": ((-0.2, 0.3), (-0.1, 0.1), (-0.1, 0.1)),
    "left_collar": ((-0.2, 0.2), (-0.3, 0.3), (-0.3, 0.4)),
    "left_shoulder": ((-1.0, 1.0), (-1.5, 0.8), (-1.4, 0.9)),
    "left_elbow": ((-0.3, 0.3), (-2.4, 0.0), (-0.1, 0.1)),
    "left_wrist": ((-0.6, 0.6), (-0.4, 0.4), (-0.8, 0.8)),
    "left_hand": ((-0.3, 0.3), (-0.2, 0.2), (-0.3, 0.3)),
}
_MIRROR = np.array([1.0, -1.0, -1.0])  # a left rotation's mirror image (x kept, y/z negated)


def joint_limits() -> np.ndarray:
    """(24, 3, 2) lower/upper limits per joint and axis (right side mirrored from the left)."""
    limits = np.zeros((24, 3, 2))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        left = name.replace("right_", "left_")
        table = np.array(_LIMITS[left])  # 3 x 2
        if name.startswith("right_"):
            table = np.sort(table * _MIRROR[:, None], axis=1)
        limits[j] = table
    return limits


JOINT_LIMITS = joint_limits()
