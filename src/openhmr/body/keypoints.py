"""Joint and keypoint conventions (PAPER.md): SMPL's 24 joints, the paper's 19 cocoplus keypoints,
COCO's 17, the LSP-14 evaluation subset, flip permutations, and the approximate cocoplus
regressor for official SMPL files loaded without a keypoint regressor."""

from __future__ import annotations

import numpy as np

from openhmr.errors import OpenHMRError

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)
SMPL_PARENTS: tuple[int, ...] = (
    -1,
    0,
    0,
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    9,
    9,
    12,
    13,
    14,
    16,
    17,
    18,
    19,
    20,
    21,
)
SMPL_FLIP_PERMUTATION: tuple[int, ...] = (
    0,
    2,
    1,
    3,
    5,
    4,
    6,
    8,
    7,
    9,
    11,
    10,
    12,
    14,
    13,
    15,
    17,
    16,
    19,
    18,
    21,
    20,
    23,
    22,
)

COCOPLUS_NAMES: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "neck",
    "head_top",
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
)
# COCO's 17 keypoints (MoveNet, ViTPose, OpenPose's COCO subset); left and right are the
# person's own, as in LSP and cocoplus
COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

COCOPLUS_FLIP_PERMUTATION: tuple[int, ...] = (
    5,
    4,
    3,
    2,
    1,
    0,
    11,
    10,
    9,
    8,
    7,
    6,
    12,
    13,
    14,
    16,
    15,
    18,
    17,
)
LSP14 = slice(0, 14)
"""The first 14 cocoplus keypoints are LSP's joints in LSP's order (the evaluation joint set)."""

H36M17_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_hip",
    "right_knee",
    "right_ankle",
    "spine",
    "thorax",
    "neck_nose",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
"""The rows of SPIN's `J_regressor_h36m.npy` as `H36M17_TO_LSP14` (PAPER.md) reads them:
LSP's right ankle is row 6, so rows 1–3 are the left leg and 4–6 the right."""
H36M17_TO_LSP14: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)

# Official SMPL (6890 vertices): the smplx package's face vertex ids and the top of the skull.
SMPL_FACE_VERTEX_IDS = {
    "nose": 332,
    "left_eye": 2800,
    "right_eye": 6260,
    "left_ear": 583,
    "right_ear": 4071,
}
SMPL_HEAD_TOP_VERTEX_ID = 411
_COCOPLUS_FROM_SMPL_JOINT = {
    "right_ankle": "right_ankle",
    "right_knee": "right_knee",
    "right_hip": "right_hip",
    "left_hip": "left_hip",
    "left_knee": "left_knee",
    "left_ankle": "left_ankle",
    "right_wrist": "right_wrist",
    "right_elbow": "right_elbow",
    "right_shoulder": "right_shoulder",
    "left_shoulder": "left_shoulder",
    "left_elbow": "left_elbow",
    "left_wrist": "left_wrist",
    "neck": "neck",
}


def approximate_cocoplus_regressor(joint_regressor: np.ndarray) -> np.ndarray:
    """The documented stand-in for HMR's cocoplus regressor on official SMPL (6890 vertices).

    joint_regressor: (24, 6890) SMPL's J_regressor.  Returns (19, 6890):
    the 13 limb/neck keypoints are SMPL's own joint-regressor rows for the matching joints
    (applied to the posed mesh; SMPL's hips and shoulders sit slightly inside LSP's annotated
    ones), head top is vertex 411, and the 5 face points are the smplx package's vertex ids.
    """
    num_vertices = joint_regressor.shape[1]
    regressor = np.zeros((len(COCOPLUS_NAMES), num_vertices), dtype=np.float64)
    for row, name in enumerate(COCOPLUS_NAMES):
        if name in _COCOPLUS_FROM_SMPL_JOINT:
            regressor[row] = joint_regressor[
                SMPL_JOINT_NAMES.index(_COCOPLUS_FROM_SMPL_JOINT[name])
            ]
        elif name == "head_top":
            regressor[row, SMPL_HEAD_TOP_VERTEX_ID] = 1.0
        else:
            regressor[row, SMPL_FACE_VERTEX_IDS[name]] = 1.0
    return regressor


def default_keypoint_names(count: int) -> tuple[str, ...]:
    """Names for a user-supplied regressor with `count` rows, by the known conventions."""
    if count == len(COCOPLUS_NAMES):
        return COCOPLUS_NAMES
    if count == len(H36M17_NAMES):
        return H36M17_NAMES
    return tuple(f"keypoint_{i}" for i in range(count))


# Where COCO's and LSP's annotators put hips and shoulders, as affine combinations of a body's
# joint-centre keypoints, per side:
#   annotated_hip      = hip      + a · (shoulder − hip)      + b · (hip − other hip)
#   annotated_shoulder = shoulder + a · (hip − shoulder)      + b · (shoulder − other shoulder)
# (a > 0: along the torso towards its other end; b > 0: outwards).  Calibrated by
# tools/calibrate_coco.py: MoveNet Thunder (TF.js original) on 300 synthetic images of the open
# body model (seed 1001), checked on 100 more: COCO hips sit 7.5% of the torso up and 10% of
# the hip width inwards of the body's hip joints, COCO shoulders 12% of the torso above its
# shoulder joints (the outward term, 0.6%, is noise); LSP's annotations agree with COCO's
# (docs/fitting.md).
ANNOTATOR_OFFSETS: dict[str, dict[str, float]] = {
    "hip": {"along": 0.075, "out": -0.101},
    "shoulder": {"along": -0.120, "out": -0.006},
}
_OFFSET_POINTS = {"hip": ("shoulder", "hip"), "shoulder": ("hip", "shoulder")}


def annotator_matrix(
    names: tuple[str, ...] = COCOPLUS_NAMES,
    offsets: dict[str, dict[str, float]] | None = None,
) -> np.ndarray:
    """(K, K) weights moving a keypoint set's hips and shoulders to where annotators put them
    (`ANNOTATOR_OFFSETS`, or `offsets`; a joint left out stays).  Rows sum to 1, so the move
    commutes with rotation, translation and projection.  names: the set's K keypoint names; it
    needs both hips and both shoulders."""
    offsets = ANNOTATOR_OFFSETS if offsets is None else offsets
    index = {name: k for k, name in enumerate(names)}
    needed = [f"{s}_{j}" for s in ("left", "right") for j in ("hip", "shoulder")]
    missing = [name for name in needed if name not in index]
    if missing:
        raise OpenHMRError(f"annotated keypoints: the keypoint set has no {', '.join(missing)}")
    matrix = np.eye(len(names))
    for row, name in enumerate(names):
        side, _, joint = name.partition("_")
        if joint not in offsets or side not in ("left", "right"):
            continue
        other = "right" if side == "left" else "left"
        towards, across = _OFFSET_POINTS[joint]
        along, out = offsets[joint]["along"], offsets[joint]["out"]
        matrix[row, row] += out - along
        matrix[row, index[f"{side}_{towards}"]] += along
        matrix[row, index[f"{other}_{across}"]] -= out
    return matrix
