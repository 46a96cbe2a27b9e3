"""Two plain readings of a body's posture, for the bundled-photo regression check: which way
the face points, relative to the camera, and how far each shin swings from the torso's down
direction (a standing or chair-seated person's shins hang along it; legs raised in front of
the body do not)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhmr.body.keypoints import COCOPLUS_NAMES

TO_CAMERA = np.array([0.0, 0.0, -1.0])  # camera axes: the camera looks down +z


@dataclass(frozen=True)
class Posture:
    """face_deg (N,): angle between the face's forward direction (the ears' midpoint → the
    nose) and the direction to the camera (−z); shin_deg (N, 2): right, left shin (knee →
    ankle) against the torso's down direction (shoulders' midpoint → hips' midpoint);
    degrees."""

    face_deg: np.ndarray
    shin_deg: np.ndarray


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def posture(keypoints3d: np.ndarray) -> Posture:
    """keypoints3d (N, 19, 3) cocoplus, camera axes -> `Posture`."""
    points = np.asarray(keypoints3d, np.float64)
    k = {name: i for i, name in enumerate(COCOPLUS_NAMES)}
    face = points[:, k["nose"]] - points[:, [k["right_ear"], k["left_ear"]]].mean(axis=1)
    hips = points[:, [k["right_hip"], k["left_hip"]]].mean(axis=1)
    shoulders = points[:, [k["right_shoulder"], k["left_shoulder"]]].mean(axis=1)
    down = hips - shoulders
    shins = np.stack(
        [
            _angle(points[:, k[f"{side}_ankle"]] - points[:, k[f"{side}_knee"]], down)
            for side in ("right", "left")
        ],
        axis=1,
    )
    return Posture(_angle(face, TO_CAMERA[None]), shins)
