"""Augmentation of cached encoder outputs: a crop's mirror image, in-plane rotation, scale and
shift applied to what a frozen MoveNet encoder read on it (φ's keypoints and BlazePose's
landmarks) and to the sample's labels, so that training from a cache sees fresh geometry every
lap instead of the same few encoded crops (`data.feature_augment`).

The transform of a crop about its centre, in normalised crop coordinates ([−1, 1]): first,
when drawn, the mirror image (x ↦ −x, left and right swapped), then
    p ↦ k · R(a) · p + d,  R(a) = [[cos a, sin a], [−sin a, cos a]]
(`openhmr.data.crop.crop_matrix`'s convention: a turns the content counter-clockwise on
screen, y down). φ moves as the test-time views move it (`openhmr.model.views.move_features`,
one code for both). It moves
- φ: MoveNet's keypoint x, y (those hidden as unseen stay zero) and BlazePose's landmark x, y;
  BlazePose's metric world x, y (the crop's axes) turn by R(a) alone; scores, visibility, the
  pose flag and the pooled map are kept (a reading zeroed by a low pose flag stays zero);
- the labels: 2D keypoints as φ's points (visibility 0 when they leave the crop), 3D joints
  and the SMPL root turned about the camera axis by R(a) (`rotate_joints3d`,
  `rotate_pose_root`, as an image rotation does); mirrored, as the image pipeline's flip
  mirrors them (`flip_keypoints`, `flip_joints3d`, `flip_pose`).
The pose networks are not exactly equivariant, so this is what they would read on the
transformed crop only approximately (measured in tests on real reads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from openhmr.data.augment import (
    flip_joints3d,
    flip_keypoints,
    flip_pose,
    rotate_joints3d,
    rotate_pose_root,
)
from openhmr.errors import OpenHMRError
from openhmr.model.views import move_features, turn_matrix


@dataclass(frozen=True)
class FeatureAugmentConfig:
    """rotation_deg: ± range of the turn, drawn with probability rotation_prob; scale: the
    factor's ± range about 1; shift: ± range of each coordinate's shift, in crop half-sides
    (1 = half the crop); mirror_prob: the probability of the mirror image (needs φ without a
    pooled map). All zero: off."""

    rotation_deg: float = 0.0
    rotation_prob: float = 1.0
    scale: float = 0.0
    shift: float = 0.0
    mirror_prob: float = 0.0

    @property
    def active(self) -> bool:
        turns = bool(self.rotation_deg and self.rotation_prob)
        return turns or bool(self.scale or self.shift or self.mirror_prob)


@dataclass(frozen=True)
class FeatureTransform:
    """One draw: angle (degrees), scale factor, shift (2,) in crop half-sides, and whether the
    crop is mirrored first."""

    angle_deg: float
    scale: float
    shift: np.ndarray
    mirror: bool = False

    def linear(self) -> np.ndarray:
        """k · R(a), (2, 2) (`openhmr.model.views.turn_matrix`: `crop_matrix`'s turn)."""
        return self.scale * turn_matrix(self.angle_deg).numpy()


def check_feature_augment(config: FeatureAugmentConfig) -> FeatureAugmentConfig:
    """Ranges checked: one clear error naming the field."""
    limits = {"rotation_deg": 180.0, "rotation_prob": 1.0, "scale": 0.9, "shift": 1.0,
              "mirror_prob": 1.0}  # fmt: skip
    for name, top in limits.items():
        value = getattr(config, name)
        if not 0.0 <= value <= top:
            raise OpenHMRError(f"config data.feature_augment.{name}: expected 0–{top}, got {value}")
    return config


def sample_feature_transform(
    config: FeatureAugmentConfig, rng: np.random.Generator
) -> FeatureTransform:
    """One transform drawn from `config` (uniform ranges; the same draws for the same rng; the
    mirror is drawn last, and only when mirror_prob is set, so configs without it draw as
    before)."""
    turn = rng.random() < config.rotation_prob
    angle = rng.uniform(-config.rotation_deg, config.rotation_deg)
    scale = rng.uniform(1.0 - config.scale, 1.0 + config.scale)
    shift = rng.uniform(-config.shift, config.shift, size=2)
    mirror = bool(config.mirror_prob and rng.random() < config.mirror_prob)
    return FeatureTransform(float(angle if turn else 0.0), float(scale), shift, mirror)


def transform_phi(phi: torch.Tensor, features: str, transform: FeatureTransform) -> torch.Tensor:
    """φ (D,) of a MoveNet encoder (`features` holding keypoints) -> φ of the transformed
    crop (module docstring)."""
    moved = move_features(
        phi[None],
        features,
        transform.mirror,
        torch.as_tensor(transform.linear()),
        turn_matrix(transform.angle_deg),
        torch.as_tensor(transform.shift),
    )
    return moved[0]


def transform_labels(
    item: dict[str, torch.Tensor], transform: FeatureTransform
) -> dict[str, torch.Tensor]:
    """A sample's labels (`RecordDataset` keys: keypoints2d (19, 3) normalised crop x, y and
    visibility, joints3d (14, 4), pose (72,)) for the transformed crop; other keys kept."""
    out = dict(item)
    if transform.mirror:
        for key, flip in (("keypoints2d", flip_keypoints), ("joints3d", flip_joints3d),
                          ("pose", flip_pose)):  # fmt: skip
            out[key] = torch.tensor(flip(item[key].double().numpy()), dtype=item[key].dtype)
        item = out
    keypoints = item["keypoints2d"].double().numpy().copy()
    keypoints[:, :2] = keypoints[:, :2] @ transform.linear().T + transform.shift
    keypoints[np.abs(keypoints[:, :2]).max(axis=1) > 1.0, 2] = 0.0
    out["keypoints2d"] = torch.tensor(keypoints, dtype=item["keypoints2d"].dtype)
    if transform.angle_deg:
        joints = rotate_joints3d(item["joints3d"].double().numpy(), transform.angle_deg)
        pose = rotate_pose_root(item["pose"].double().numpy(), transform.angle_deg)
        out["joints3d"] = torch.tensor(joints, dtype=item["joints3d"].dtype)
        out["pose"] = torch.tensor(pose, dtype=item["pose"].dtype)
    return out
