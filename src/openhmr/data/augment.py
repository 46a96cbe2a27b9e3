"""The paper's training augmentation: centre jitter, scale, horizontal flip (with the keypoint,
3D-joint and SMPL-pose reflections), colour jitter, optional in-plane rotation (SPIN's)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from openhmr.body.keypoints import COCOPLUS_FLIP_PERMUTATION, SMPL_FLIP_PERMUTATION

LSP14_FLIP_PERMUTATION = COCOPLUS_FLIP_PERMUTATION[:14]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges. jitter is in pixels of the 224 crop (the paper's ±20 px at ~150 px person
    height), applied to the box centre; scale multiplies the box side; color scales each RGB
    channel by U[1 − color, 1 + color]; rotation_deg is the ±range of an in-plane rotation
    applied with probability rotation_prob (0: off, the paper's setting)."""

    jitter: float = 20.0
    scale_range: tuple[float, float] = (0.8, 1.23)
    flip_prob: float = 0.5
    color: float = 0.4
    rotation_deg: float = 0.0
    rotation_prob: float = 0.6


NO_AUGMENTATION = AugmentConfig(jitter=0.0, scale_range=(1.0, 1.0), flip_prob=0.0, color=0.0)


@dataclass(frozen=True)
class AugmentParams:
    """One sample's draw: shift (2,) crop pixels, scale factor, flip, per-channel colour
    gains (3,), rotation in degrees."""

    shift: np.ndarray
    scale: float
    flip: bool
    color: np.ndarray
    rotation_deg: float


def sample_augmentation(config: AugmentConfig, rng: np.random.Generator) -> AugmentParams:
    """Draw one sample's augmentation from `rng` (always the same number of draws, so a
    sample's randomness does not depend on which options are on)."""
    shift = rng.uniform(-1.0, 1.0, 2) * config.jitter
    scale = rng.uniform(*config.scale_range)
    flip = bool(rng.random() < config.flip_prob)
    color = rng.uniform(1.0 - config.color, 1.0 + config.color, 3)
    rotate = rng.random() < config.rotation_prob
    angle = rng.uniform(-1.0, 1.0) * config.rotation_deg
    return AugmentParams(shift, float(scale), flip, color, float(angle if rotate else 0.0))


def flip_keypoints(normalized: np.ndarray) -> np.ndarray:
    """Cocoplus keypoints (19, 3) in normalised crop coordinates, mirrored: x ↦ −x and left/right
    swapped by the flip permutation."""
    flipped = normalized[list(COCOPLUS_FLIP_PERMUTATION)].copy()
    flipped[:, 0] = -flipped[:, 0]
    return flipped


def flip_joints3d(joints: np.ndarray) -> np.ndarray:
    """LSP-14 camera-frame joints (14, 4) mirrored in x with left/right swapped."""
    flipped = joints[list(LSP14_FLIP_PERMUTATION)].copy()
    flipped[:, 0] = -flipped[:, 0]
    return flipped


def flip_pose(pose: np.ndarray) -> np.ndarray:
    """SMPL axis-angle (72,) of the mirrored body: joints swapped left/right and each rotation
    reflected (axis-angle times [1, −1, −1])."""
    return (pose.reshape(24, 3)[list(SMPL_FLIP_PERMUTATION)] * [1.0, -1.0, -1.0]).reshape(72)


def rotate_pose_root(pose: np.ndarray, angle_deg: float) -> np.ndarray:
    """Turn the body with an in-plane crop rotation: the root is pre-multiplied by the camera
    z-rotation that the image content undergoes (counter-clockwise on screen, y down)."""
    from scipy.spatial.transform import Rotation

    if angle_deg == 0.0:
        return pose
    turn = Rotation.from_rotvec([0.0, 0.0, -math.radians(angle_deg)])
    out = pose.copy()
    out[:3] = (turn * Rotation.from_rotvec(pose[:3])).as_rotvec()
    return out


def rotate_joints3d(joints: np.ndarray, angle_deg: float) -> np.ndarray:
    """Camera-frame joints (14, 4) turned with the in-plane crop rotation (about z)."""
    if angle_deg == 0.0:
        return joints
    a = math.radians(angle_deg)
    rotation = np.array(
        [[math.cos(a), math.sin(a), 0.0], [-math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]]
    )
    out = joints.copy()
    out[:, :3] = joints[:, :3] @ rotation.T
    return out
