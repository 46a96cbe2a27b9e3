"""The 6-part body segmentation of LSP's part annotations (head, torso, arms, legs), as per-vertex
labels derived from any SMPL-format model's skinning weights.

Split (each vertex goes to the part of the joint with its largest skinning weight):

| label | part | SMPL joints |
| --- | --- | --- |
| 0 | head | neck, head |
| 1 | torso | pelvis, spine1, spine2, spine3, left_collar, right_collar |
| 2 | left arm | left_shoulder, left_elbow, left_wrist, left_hand |
| 3 | right arm | right_shoulder, right_elbow, right_wrist, right_hand |
| 4 | left leg | left_hip, left_knee, left_ankle, left_foot |
| 5 | right leg | right_hip, right_knee, right_ankle, right_foot |

"left" is the subject's left. SMPL's hip joints carry the thighs and its shoulder joints the upper
arms, so the cuts fall at the groin/hip crease and the armpit, as in LSP's annotations.
Rendered label images use −1 for background.
"""

from __future__ import annotations

import numpy as np

from openhmr.body.keypoints import SMPL_JOINT_NAMES
from openhmr.errors import OpenHMRError

PART_NAMES: tuple[str, ...] = ("head", "torso", "left_arm", "right_arm", "left_leg", "right_leg")
_PART_JOINTS = {
    "head": ("neck", "head"),
    "torso": ("pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar"),
    "left_arm": ("left_shoulder", "left_elbow", "left_wrist", "left_hand"),
    "right_arm": ("right_shoulder", "right_elbow", "right_wrist", "right_hand"),
    "left_leg": ("left_hip", "left_knee", "left_ankle", "left_foot"),
    "right_leg": ("right_hip", "right_knee", "right_ankle", "right_foot"),
}
JOINT_TO_PART: tuple[int, ...] = tuple(
    next(PART_NAMES.index(part) for part, joints in _PART_JOINTS.items() if name in joints)
    for name in SMPL_JOINT_NAMES
)


def vertex_part_labels(weights: np.ndarray) -> np.ndarray:
    """Skinning weights (V, 24) → part label per vertex (V,) int32 in [0, 6) (see table)."""
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != len(SMPL_JOINT_NAMES):
        raise OpenHMRError(
            f"part labels need SMPL's 24-joint skinning weights (V, 24), got {weights.shape}"
        )
    return np.asarray(JOINT_TO_PART, dtype=np.int32)[weights.argmax(axis=1)]
