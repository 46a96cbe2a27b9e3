"""BVH -> SMPL retargeting (`bvh_to_smpl`; docs/mocap.md has the derivation). For every frame, the
BVH joints' global rotations B_b (BVH world, then turned into SMPL's y-up world by C) are mapped
onto SMPL's joints by a `SkeletonMap`. Each SMPL joint j driven by BVH joint b gets the global
rotation

    G_j = C B_b · A_j⁻¹,   A_j = S_j · C R_b

where R_b is b's global rotation in the skeleton's reference pose (the rest pose, or a listed
T-pose) and S_j is the rest correction: the world rotation that turns the reference pose into
SMPL's T-pose at joint j.  S_pelvis turns the reference hips' heading onto SMPL's; a limb joint
(hips, knees, shoulders, elbows) adds the smallest rotation carrying its reference bone
direction onto the template's; every other joint inherits its parent's S, keeping the
reference posture of torso, neck, head, collars, wrists, hands and feet as SMPL's zero.  So the
reference pose maps to global rotations S_j⁻¹, a SMPL T-pose reference to (nearly) the zero pose,
bone directions of every posed frame match the BVH's and twist about each bone is kept from the
BVH rotations.  SMPL's local pose is θ_j = log(G_parent(j)⁻¹ G_j), root θ_0 = log(G_pelvis):
body orientation in a y-up world, facing where the subject faces in the BVH world.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from openhmr.body.keypoints import SMPL_JOINT_NAMES, SMPL_PARENTS
from openhmr.data.bvh import BvhMotion, BvhSkeleton
from openhmr.data.skeletons import (
    ALIGNED_JOINTS,
    SMPL_NODE_NAMES,
    SMPL_NODE_PARENTS,
    SMPL_TEMPLATE_END_OFFSETS,
    SMPL_TEMPLATE_JOINTS,
    SkeletonMap,
    resolve_skeleton,
)
from openhmr.errors import OpenHMRError

# --- rotation helpers (numpy, batched) -------------------------------------------------------


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3), angle in [0, π]."""
    flat = Rotation.from_matrix(matrix.reshape(-1, 3, 3)).as_rotvec()
    return flat.reshape(*matrix.shape[:-2], 3)


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3)."""
    flat = Rotation.from_rotvec(np.asarray(axis_angle, dtype=np.float64).reshape(-1, 3))
    return flat.as_matrix().reshape(*np.shape(axis_angle)[:-1], 3, 3)


def swing_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) carrying direction `source` (3,) onto direction `target`
    (3,); the rotation axis is source × target (any perpendicular axis when they are opposite)."""
    a = source / np.linalg.norm(source)
    b = target / np.linalg.norm(target)
    axis, cos = np.cross(a, b), float(a @ b)
    if cos < -1 + 1e-9:  # opposite: half turn about any axis perpendicular to a
        helper = np.eye(3)[np.argmin(np.abs(a))]
        axis = np.cross(a, helper)
        return Rotation.from_rotvec(np.pi * axis / np.linalg.norm(axis)).as_matrix()
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + K + K @ K / (1 + cos)


def heading_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) about the y (up) axis turning the horizontal part of `source` (3,) onto
    the horizontal part of `target` (3,)."""
    angle = np.arctan2(source[2], source[0]) - np.arctan2(target[2], target[0])
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


# --- reference pose and rest corrections ------------------------------------------------------


def reference_globals(
    skeleton: BvhSkeleton, reference: Mapping[str, Sequence[float]]
) -> np.ndarray:
    """Global rotations (J, 3, 3) of every BVH joint in the reference pose: listed joints get
    their axis-angle (degrees), others their parent's (identity local), the root the identity."""
    globals_ = np.empty((len(skeleton.names), 3, 3))
    for j, parent in enumerate(skeleton.parents):
        name = skeleton.names[j]
        if name in reference:
            globals_[j] = axis_angle_to_matrix(np.deg2rad(np.asarray(reference[name])))
        else:
            globals_[j] = np.eye(3) if parent < 0 else globals_[parent]
    return globals_


def reference_positions(skeleton: BvhSkeleton, ref_globals: np.ndarray) -> np.ndarray:
    """Joint positions (J, 3) of the reference pose (root at the origin): each offset turned by
    its parent's reference global rotation."""
    positions = np.zeros((len(skeleton.names), 3))
    for j, parent in enumerate(skeleton.parents):
        if parent >= 0:
            positions[j] = positions[parent] + ref_globals[parent] @ skeleton.offsets[j]
    return positions


def smpl_template_nodes(template_joints: np.ndarray | None = None) -> np.ndarray:
    """SMPL's 24 rest joints plus the 5 leaf ends (SMPL_NODE_NAMES order): (29, 3)."""
    joints = SMPL_TEMPLATE_JOINTS if template_joints is None else np.asarray(template_joints)
    if joints.shape != (24, 3):
        raise OpenHMRError(f"template joints: expected shape (24, 3), got {joints.shape}")
    leaves = [SMPL_NODE_PARENTS[24 + k] for k in range(len(SMPL_TEMPLATE_END_OFFSETS))]
    return np.concatenate([joints, joints[leaves] + SMPL_TEMPLATE_END_OFFSETS])


def rest_joints(body_model: str | os.PathLike = "open") -> np.ndarray:
    """(24, 3) rest (zero pose, mean shape) joints of a body model ("open" or a model path), to
    pass as template_joints."""
    import torch

    from openhmr.body import load_body_model

    model = load_body_model(body_model)
    with torch.no_grad():
        joints = model(pose=torch.zeros(1, 72)).joints[0, :24]
    return joints.double().numpy()


def _bone_end(node: int, mapped: Mapping[int, int], positions: np.ndarray, eps: float) -> int:
    """The first mapped SMPL node below `node` whose BVH joint is away from node's own
    (descending past zero-length bones); -1 if none."""
    children = [c for c, p in enumerate(SMPL_NODE_PARENTS) if p == node and c in mapped]
    for child in children:
        if np.linalg.norm(positions[mapped[child]] - positions[mapped[node]]) > eps:
            return child
        deeper = _bone_end(child, mapped, positions, eps)
        if deeper >= 0:
            return deeper
    return -1


def rest_corrections(
    skeleton: BvhSkeleton, skeleton_map: SkeletonMap, template_joints: np.ndarray | None = None
) -> np.ndarray:
    """S_j (24, 3, 3): per SMPL joint, the world rotation (SMPL axes) taking the skeleton's
    reference pose to SMPL's T-pose at that joint (module docstring)."""
    world = skeleton_map.world_to_smpl
    positions = (
        reference_positions(skeleton, reference_globals(skeleton, skeleton_map.reference)) @ world.T
    )  # J x 3, SMPL axes
    template = smpl_template_nodes(template_joints)
    mapped = {SMPL_NODE_NAMES.index(n): skeleton.index(b) for n, b in skeleton_map.joints.items()}
    eps = 1e-3 * float(np.abs(positions).max() or 1.0)
    corrections = np.empty((24, 3, 3))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        parent = SMPL_PARENTS[j]
        corrections[j] = np.eye(3) if parent < 0 else corrections[parent]
        if j == 0 and 1 in mapped and 2 in mapped:
            hips = positions[mapped[1]] - positions[mapped[2]]
            corrections[0] = heading_rotation(hips, template[1] - template[2])
        if name in ALIGNED_JOINTS and j in mapped:
            end = _bone_end(j, mapped, positions, eps)
            if end >= 0:
                bone = corrections[j] @ (positions[mapped[end]] - positions[mapped[j]])
                swing = swing_rotation(bone, template[end] - template[j])
                corrections[j] = swing @ corrections[j]
    return corrections


# --- conversion -------------------------------------------------------------------------------


def bvh_global_rotations(
    parents: np.ndarray, rotations: np.ndarray, joints: Iterable[int]
) -> dict[int, np.ndarray]:
    """Global rotations {joint: (F, 3, 3)} of `joints` and their ancestors, from local rotations
    (F, J, 3, 3); parents (J,) list parents before children."""
    needed: set[int] = set()
    for j in joints:
        while j >= 0 and j not in needed:
            needed.add(j)
            j = int(parents[j])
    out: dict[int, np.ndarray] = {}
    for j in sorted(needed):
        parent = int(parents[j])
        out[j] = rotations[:, j] if parent < 0 else out[parent] @ rotations[:, j]
    return out


def smpl_global_rotations(
    motion: BvhMotion, skeleton_map: SkeletonMap, template_joints: np.ndarray | None = None
) -> np.ndarray:
    """SMPL global joint rotations G (F, 24, 3, 3) in SMPL's world for every frame of
    `motion`: G_j = C B_b · (S_j C R_b)⁻¹ (module docstring); unmapped joints follow their
    parent."""
    skeleton = motion.skeleton
    world = skeleton_map.world_to_smpl
    ref_globals = world @ reference_globals(skeleton, skeleton_map.reference)  # J x 3 x 3
    corrections = rest_corrections(skeleton, skeleton_map, template_joints)  # 24 x 3 x 3
    mapped = {
        SMPL_JOINT_NAMES.index(n): skeleton.index(b)
        for n, b in skeleton_map.joints.items()
        if n in SMPL_JOINT_NAMES
    }
    bvh_globals = bvh_global_rotations(skeleton.parents, motion.rotations, mapped.values())
    out = np.empty((motion.num_frames, 24, 3, 3))
    for j in range(24):
        if j in mapped:
            b = mapped[j]
            inverse_reference = (corrections[j] @ ref_globals[b]).T  # A_j⁻¹
            out[:, j] = world @ bvh_globals[b] @ inverse_reference
        else:
            out[:, j] = out[:, SMPL_PARENTS[j]]
    return out


def global_to_local(global_rotations: np.ndarray) -> np.ndarray:
    """SMPL local rotations (F, 24, 3, 3) from global ones: L_j = G_parent⁻¹ G_j, L_0 = G_0."""
    local = global_rotations.copy()
    parents = np.array(SMPL_PARENTS[1:])
    local[:, 1:] = np.swapaxes(global_rotations[:, parents], -1, -2) @ global_rotations[:, 1:]
    return local


def bvh_to_smpl(
    motion: BvhMotion,
    skeleton: str | os.PathLike | SkeletonMap = "auto",
    template_joints: np.ndarray | None = None,
) -> np.ndarray:
    """SMPL pose (F, 24, 3) axis-angle (root first; y up, facing +z at zero root) for every
    frame of `motion`.  skeleton: "auto", a built-in name, a map file or a SkeletonMap;
    template_joints: optional (24, 3) SMPL rest joints whose limb directions define the T-pose."""
    skeleton_map = resolve_skeleton(skeleton, motion.skeleton.names, motion.name)
    local = global_to_local(smpl_global_rotations(motion, skeleton_map, template_joints))
    return matrix_to_axis_angle(local)
