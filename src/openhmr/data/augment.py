"""The paper's training augmentation: centre jitter, scale, horizontal flip (with the keypoint,
3D-joint and SMPL-pose reflections), colour jitter, optional in-plane rotation (SPIN's)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from openhmr.body.keypoints import COCOPLUS_FLIP_PERMUTATION, SMPL_FLIP_PERMUTATION
from openhmr.data.crop import box_from_keypoints

LSP14_FLIP_PERMUTATION = COCOPLUS_FLIP_PERMUTATION[:14]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges. jitter is in pixels of the 224 crop (the paper's ±20 px at ~150 px person
    height), applied to the box centre; scale multiplies the box side; color scales each RGB
    channel by U[1 − color, 1 + color]; rotation_deg is the ±range of an in-plane rotation
    applied with probability rotation_prob (0: off, the paper's setting); truncation_prob:
    the probability of a truncated crop (`truncated_box`: the box of the body above the chest,
    the hips or the knees, one level drawn uniformly; 0: off, the paper's setting)."""

    jitter: float = 20.0
    scale_range: tuple[float, float] = (0.8, 1.23)
    flip_prob: float = 0.5
    color: float = 0.4
    rotation_deg: float = 0.0
    rotation_prob: float = 0.6
    truncation_prob: float = 0.0


NO_AUGMENTATION = AugmentConfig(jitter=0.0, scale_range=(1.0, 1.0), flip_prob=0.0, color=0.0)


@dataclass(frozen=True)
class AugmentParams:
    """One sample's draw: shift (2,) crop pixels, scale factor, flip, per-channel colour
    gains (3,), rotation in degrees, truncation level (one of `TRUNCATION_LEVELS`, or None)."""

    shift: np.ndarray
    scale: float
    flip: bool
    color: np.ndarray
    rotation_deg: float
    truncation: str | None = None


def sample_augmentation(config: AugmentConfig, rng: np.random.Generator) -> AugmentParams:
    """Draw one sample's augmentation from `rng` (always the same number of draws, so a
    sample's randomness does not depend on which options are on)."""
    shift = rng.uniform(-1.0, 1.0, 2) * config.jitter
    scale = rng.uniform(*config.scale_range)
    flip = bool(rng.random() < config.flip_prob)
    color = rng.uniform(1.0 - config.color, 1.0 + config.color, 3)
    rotate = rng.random() < config.rotation_prob
    angle = rng.uniform(-1.0, 1.0) * config.rotation_deg
    truncate = rng.random() < config.truncation_prob
    level = TRUNCATION_LEVELS[int(rng.integers(len(TRUNCATION_LEVELS)))]
    return AugmentParams(
        shift, float(scale), flip, color, float(angle if rotate else 0.0),
        level if truncate else None,
    )  # fmt: skip


# where a truncated crop cuts the body: the cocoplus keypoints the cut runs through (their mean
# is the cut's point on the body's axis); "chest" is halfway from the hips to the shoulders
TRUNCATION_LEVELS = ("chest", "hips", "knees")
_CUT_POINTS = {"chest": (2, 3), "hips": (2, 3), "knees": (1, 4)}  # right, left
_HIPS, _SHOULDERS = (2, 3), (8, 9)


def truncated_box(
    keypoints: np.ndarray, level: str, person_px: float = 150.0, crop_px: int = 224
) -> tuple[np.ndarray, float] | None:
    """The box of the body above a cut, as a half-length photo frames it (HMR 2.0's truncation
    augmentation).  keypoints: (19, 3) cocoplus x, y image pixels, visibility; level: one of
    `TRUNCATION_LEVELS`.  The body's up axis runs from the hips' midpoint to the shoulders';
    kept are the visible keypoints at or above the cut's point on that axis and the cut's own
    two points (the hips, the knees, or halfway from each hip to its shoulder), boxed as
    `box_from_keypoints` boxes.  Returns (center (2,), scale) or None when the hips,
    shoulders or the cut's joints are not all visible, or fewer than 3 keypoints are kept."""
    if level not in TRUNCATION_LEVELS:
        raise ValueError(f"truncation level: expected one of {TRUNCATION_LEVELS}, got {level!r}")
    needed = list(_HIPS + _SHOULDERS + _CUT_POINTS[level])
    if not np.all(keypoints[needed, 2] > 0):
        return None
    xy = keypoints[:, :2]
    hips, shoulders = xy[list(_HIPS)].mean(axis=0), xy[list(_SHOULDERS)].mean(axis=0)
    up = shoulders - hips
    if np.linalg.norm(up) < 1e-6:
        return None
    # the cut's own points, one a side: the hips or knees, or halfway from hip to shoulder
    ends = xy[list(_CUT_POINTS[level][:2])]
    if level == "chest":
        ends = (ends + xy[list(_SHOULDERS)]) / 2
    cut = float((ends.mean(axis=0) - hips) @ up)
    keep = (keypoints[:, 2] > 0) & ((xy - hips) @ up >= cut - 1e-9 * abs(cut))
    if keep.sum() < 3:
        return None
    kept = np.concatenate([keypoints[keep], np.column_stack([ends, np.ones(2)])])
    return box_from_keypoints(kept, person_px, crop_px)


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
