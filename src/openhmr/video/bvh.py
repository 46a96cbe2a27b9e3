"""BVH export of a track on the SMPL skeleton (24 joints, the track's rest joints as offsets).

The BVH world is y-up (camera axes turned by π about x: x right, y up, z toward the camera).
The root has Xposition Yposition Zposition Zrotation Yrotation Xrotation channels, every other
joint Zrotation Yrotation Xrotation (intrinsic: R = Rz · Ry · Rx, degrees), which is how
openhmr's own importer (`openhmr.data.bvh`), Blender and most BVH libraries read them. Leaf
joints get an End Site half their bone's length beyond them.
"""

from __future__ import annotations

import math
import os

import numpy as np
from scipy.spatial.transform import Rotation

from openhmr.body.keypoints import SMPL_JOINT_NAMES, SMPL_PARENTS
from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path

CAMERA_TO_BVH = np.diag([1.0, -1.0, -1.0])  # rotation by π about x


def depth_first_order(parents: np.ndarray) -> list[int]:
    """Joint indices in depth-first (file) order, children in index order."""
    children = {
        j: [c for c in range(len(parents)) if parents[c] == j] for j in range(-1, len(parents))
    }
    order, stack = [], list(reversed(children[-1]))
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    return order


def bvh_text(
    pose: np.ndarray,
    transl: np.ndarray,
    rest_joints: np.ndarray,
    fps: float,
    parents: tuple[int, ...] = tuple(SMPL_PARENTS),
    names: tuple[str, ...] = tuple(SMPL_JOINT_NAMES),
) -> str:
    """BVH text of F frames. pose: (F, 24, 3) axis-angle in camera axes (root first);
    transl: (F, 3) body translation (camera axes, metres); rest_joints: (24, 3) the shape's
    rest joints (model frame); fps > 0."""
    parents = np.asarray(parents)
    frames, num_joints = pose.shape[0], pose.shape[1]
    local = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(frames, num_joints, 3, 3)
    local[:, 0] = CAMERA_TO_BVH @ local[:, 0]
    root = (transl + rest_joints[0]) @ CAMERA_TO_BVH.T  # F x 3
    order = depth_first_order(parents)
    lines = ["HIERARCHY"]
    depth = {-1: -1}
    stack: list[int] = []  # open joints
    for j in order:
        while stack and stack[-1] != parents[j]:
            _close(lines, stack, depth, parents, rest_joints)
        depth[j] = depth[int(parents[j])] + 1
        pad = "  " * depth[j]
        offset = rest_joints[j] - rest_joints[parents[j]] if parents[j] >= 0 else np.zeros(3)
        lines.append(f"{pad}{'ROOT' if parents[j] < 0 else 'JOINT'} {names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {_numbers(offset)}")
        channels = "Zrotation Yrotation Xrotation"
        if parents[j] < 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {channels}")
        else:
            lines.append(f"{pad}  CHANNELS 3 {channels}")
        stack.append(j)
    while stack:
        _close(lines, stack, depth, parents, rest_joints)
    euler = Rotation.from_matrix(local[:, order].reshape(-1, 3, 3)).as_euler("ZYX", degrees=True)
    values = np.concatenate([root, euler.reshape(frames, -1)], axis=1)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [_numbers(row) for row in values]
    return "\n".join(lines) + "\n"


def _close(lines, stack, depth, parents, rest_joints) -> None:
    j = stack.pop()
    pad = "  " * depth[j]
    if not any(parents[c] == j for c in range(len(parents))):  # leaf: an end site
        bone = rest_joints[j] - rest_joints[parents[j]] if parents[j] >= 0 else np.zeros(3)
        lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_numbers(0.5 * bone)}"]
        lines.append(f"{pad}  }}")
    lines.append(f"{pad}}}")


def _numbers(values: np.ndarray) -> str:
    return " ".join(f"{v:.6f}" for v in np.asarray(values, dtype=np.float64))


def write_bvh(
    path: str | os.PathLike,
    pose: np.ndarray,
    transl: np.ndarray,
    rest_joints: np.ndarray,
    fps: float,
) -> None:
    """Write `bvh_text(...)` atomically to `path`."""
    if not (fps > 0 and math.isfinite(fps)):
        raise OpenHMRError(f"BVH frame rate must be a positive number, got {fps}")
    text = bvh_text(pose, transl, rest_joints, fps)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
