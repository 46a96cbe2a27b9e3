"""Skeleton maps: which BVH joint drives each SMPL joint, per mocap skeleton, and the SMPL T-pose
template whose bone directions the conversion aligns limbs to (docs/mocap.md).

A `SkeletonMap` names, for each of SMPL's 24 joints, the BVH joint whose global rotation drives
it, plus optional ``<joint>_end`` entries for SMPL's leaf joints; an optional reference pose (the
global rotation of listed BVH joints in the skeleton's T-pose, for skeletons whose all-zero
rest pose is not a standing pose); and the BVH world's up axis.

Built in: the three CMU conversions in ``shared/data/mocap`` (``cmu_cgspeed``, ``cmu_daz``,
``cmu_iclone``), detected from joint names.  A custom map is a JSON or YAML file::

    {"name": "my_rig", "up": "y",
     "joints": {"pelvis": "Hips", "left_hip": "LeftUpLeg", ...},
     "reference": {"LeftArm": [0, 0, -90]}}          # optional, axis-angle in degrees

or just the ``joints`` mapping itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from openhmr.body.keypoints import SMPL_JOINT_NAMES, SMPL_PARENTS
from openhmr.errors import OpenHMRError

# SMPL's leaf joints get a virtual child ("<name>_end") so their bone has a direction too.
SMPL_END_PARENTS: Mapping[str, str] = MappingProxyType(
    {
        "left_foot_end": "left_foot",
        "right_foot_end": "right_foot",
        "head_end": "head",
        "left_hand_end": "left_hand",
        "right_hand_end": "right_hand",
    }
)
SMPL_NODE_NAMES: tuple[str, ...] = (*SMPL_JOINT_NAMES, *SMPL_END_PARENTS)
SMPL_NODE_PARENTS: tuple[int, ...] = (
    *SMPL_PARENTS,
    *(SMPL_JOINT_NAMES.index(p) for p in SMPL_END_PARENTS.values()),
)

# Approximate SMPL neutral rest (T-pose) joints in metres: y up, facing +z, subject's left = +x,
# made left/right symmetric.  Only bone *directions* are used (to align limbs), so centimetre
# accuracy is plenty; pass a body model's rest joints to `bvh_to_smpl` to use exact ones.
SMPL_TEMPLATE_JOINTS = np.array(
    [
        [0.000, -0.223, 0.028],  # pelvis
        [0.068, -0.313, 0.022],  # left_hip
        [-0.068, -0.313, 0.022],  # right_hip
        [0.000, -0.110, -0.002],  # spine1
        [0.105, -0.678, 0.014],  # left_knee
        [-0.105, -0.678, 0.014],  # right_knee
        [0.000, 0.025, 0.001],  # spine2
        [0.088, -1.074, -0.030],  # left_ankle
        [-0.088, -1.074, -0.030],  # right_ankle
        [0.000, 0.085, 0.028],  # spine3
        [0.118, -1.134, 0.095],  # left_foot
        [-0.118, -1.134, 0.095],  # right_foot
        [0.000, 0.289, -0.013],  # neck
        [0.077, 0.191, -0.006],  # left_collar
        [-0.077, 0.191, -0.006],  # right_collar
        [0.000, 0.377, 0.036],  # head
        [0.167, 0.225, -0.017],  # left_shoulder
        [-0.167, 0.225, -0.017],  # right_shoulder
        [0.420, 0.216, -0.040],  # left_elbow
        [-0.420, 0.216, -0.040],  # right_elbow
        [0.669, 0.220, -0.042],  # left_wrist
        [-0.669, 0.220, -0.042],  # right_wrist
        [0.753, 0.212, -0.061],  # left_hand
        [-0.753, 0.212, -0.061],  # right_hand
    ]
)
# leaf bones of the template: toes forward and slightly down, head up, fingers along the arm
SMPL_TEMPLATE_END_OFFSETS = np.array(
    [[0.0, -0.02, 0.07], [0.0, -0.02, 0.07], [0.0, 0.15, 0.0], [0.08, 0.0, 0.0], [-0.08, 0.0, 0.0]]
)

# The limb joints whose bone direction (to their child) is aligned to the template's: the long
# bones, whose direction in a rest pose is unambiguous (legs down, arms out or down).  Every other
# joint (pelvis, spine, neck, head, collars, wrists, hands, ankles, feet) keeps the reference
# pose's posture relative to its parent as SMPL's zero, because where a rig puts those joints
# (not the posture) is what makes their bone directions differ.
ALIGNED_JOINTS: tuple[str, ...] = (
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
)

_UP_AXES: Mapping[str, tuple[tuple[float, ...], ...]] = MappingProxyType(
    {
        "y": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        # z up, -y forward (e.g. Blender): rotate -90° about x so that z -> y and -y -> z
        "z": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    }
)


@dataclass(frozen=True)
class SkeletonMap:
    """How one BVH skeleton drives SMPL.

    joints: SMPL joint (or ``<leaf>_end``) name -> BVH joint name; SMPL joints left out follow
    their parent (zero local rotation).  reference: BVH joint -> global rotation (axis-angle,
    degrees) in the skeleton's T-pose, for joints whose rotation in that pose is not the
    identity; empty when the all-zero rest pose is the reference.  up: the BVH world's up axis.
    """

    name: str
    joints: Mapping[str, str]
    reference: Mapping[str, tuple[float, float, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    up: str = "y"

    def __post_init__(self) -> None:
        unknown = set(self.joints) - set(SMPL_NODE_NAMES)
        if unknown:
            raise OpenHMRError(
                f"skeleton map {self.name!r}: unknown SMPL joints {sorted(unknown)}; "
                f"expected names from {list(SMPL_NODE_NAMES)}"
            )
        if "pelvis" not in self.joints:
            raise OpenHMRError(f"skeleton map {self.name!r}: 'pelvis' must be mapped")
        if self.up not in _UP_AXES:
            raise OpenHMRError(
                f"skeleton map {self.name!r}: up axis must be one of {list(_UP_AXES)}, "
                f"got {self.up!r}"
            )

    @property
    def world_to_smpl(self) -> np.ndarray:
        """(3, 3) rotation from the BVH world's axes to SMPL's (y up)."""
        return np.array(_UP_AXES[self.up])

    def bvh_joints(self) -> set[str]:
        """The BVH joint names this map needs."""
        return set(self.joints.values()) | set(self.reference)


def _sided(template: Mapping[str, str], left: str, right: str) -> dict[str, str]:
    """Expand a map written for the left side ({L} placeholders) to both sides."""
    out: dict[str, str] = {}
    for smpl, bvh in template.items():
        if "{side}" in smpl:
            out[smpl.format(side="left")] = bvh.format(L=left)
            out[smpl.format(side="right")] = bvh.format(L=right)
        else:
            out[smpl] = bvh
    return out


def _builtin(
    name: str,
    joints: Mapping[str, str],
    reference: Mapping[str, tuple[float, float, float]] | None = None,
) -> SkeletonMap:
    return SkeletonMap(
        name, MappingProxyType(dict(joints)), MappingProxyType(dict(reference or {}))
    )


# cgspeed (CMU's ASF/AMC converted by B. Hahne): rest pose stands with the arms hanging down.
# LeftWrist's rotation turns only zero-length bones, so the SMPL wrist follows `lhand`, whose
# rotation carries the hand bone (to LFingers).
CMU_CGSPEED = _builtin(
    "cmu_cgspeed",
    _sided(
        {
            "pelvis": "Hips",
            "{side}_hip": "{L}Hip",
            "{side}_knee": "{L}Knee",
            "{side}_ankle": "{L}Ankle",
            "{side}_foot": "{L}Toe",
            "{side}_foot_end": "{L}Toe_end",
            "spine1": "lowerback",
            "spine2": "Chest",
            "spine3": "Chest2",
            "neck": "lowerneck",
            "head": "Head",
            "head_end": "Head_end",
            "{side}_collar": "{L}Collar",
            "{side}_shoulder": "{L}Shoulder",
            "{side}_elbow": "{L}Elbow",
        },
        "Left",
        "Right",
    )
    | {
        "left_wrist": "lhand",
        "right_wrist": "rhand",
        "left_hand": "LFingers",
        "right_hand": "RFingers",
        "left_hand_end": "LFingers_end",
        "right_hand_end": "RFingers_end",
    },
)

# DAZ-style (Poser/DAZ naming): rest pose is a T-pose.  Two spine joints for SMPL's three: the
# abdomen bends SMPL's spine1 (spine2 follows it), the chest is spine3.  No toe joint: SMPL's
# foot follows the ankle.  SMPL's hand joint is the middle finger's first joint.
CMU_DAZ = _builtin(
    "cmu_daz",
    _sided(
        {
            "pelvis": "hip",
            "{side}_hip": "{L}Thigh",
            "{side}_knee": "{L}Shin",
            "{side}_ankle": "{L}Foot",
            "{side}_foot": "{L}Foot",
            "{side}_foot_end": "{L}Foot_end",
            "spine1": "abdomen",
            "spine2": "abdomen",
            "spine3": "chest",
            "neck": "neck",
            "head": "head",
            "{side}_collar": "{L}Collar",
            "{side}_shoulder": "{L}Shldr",
            "{side}_elbow": "{L}ForeArm",
            "{side}_wrist": "{L}Hand",
            "{side}_hand": "{L}Mid1",
            "{side}_hand_end": "{L}Mid2",
        },
        "l",
        "r",
    ),
)

# iClone CC_Base (Reallusion Character Creator): every bone's local y axis runs along the bone,
# so the all-zero rest pose is a tangle.  The reference is the rig's bind T-pose: the global
# bone rotations of its T-pose frame (the frame prepended to clips 007_03 ... 007_12), rounded to
# 0.1°.  Twist and share bones are skinning helpers and are not mapped; the main chain carries
# the full rotation.
_ICLONE_REFERENCE = {
    "CC_Base_Hip": (0.0, 0.0, -0.2),
    "CC_Base_Pelvis": (11.8, 0.0, -0.2),
    "CC_Base_Waist": (16.2, 0.0, 0.0),
    "CC_Base_Spine01": (-5.0, 0.0, 0.0),
    "CC_Base_Spine02": (-10.3, 0.0, 0.0),
    "CC_Base_NeckTwist01": (11.2, 0.0, 0.0),
    "CC_Base_NeckTwist02": (9.6, 0.0, 0.0),
    "CC_Base_Head": (0.0, 0.0, 0.0),
    "CC_Base_L_Thigh": (0.0, 7.6, 179.6),
    "CC_Base_L_Calf": (0.1, -7.3, 179.5),
    "CC_Base_L_Foot": (-8.0, -109.9, -137.9),
    "CC_Base_L_ToeBase": (-1.4, -130.2, -118.1),
    "CC_Base_L_Clavicle": (-11.4, 12.0, -87.8),
    "CC_Base_L_Upperarm": (0.4, -0.4, -92.5),
    "CC_Base_L_Forearm": (0.6, -0.5, -91.2),
    "CC_Base_L_Hand": (-2.0, 1.8, -95.7),
    "CC_Base_L_Mid1": (0.6, -1.1, -94.1),
    "CC_Base_L_Mid2": (0.4, -0.2, -94.3),
    "CC_Base_R_Thigh": (0.2, -6.7, -179.6),
    "CC_Base_R_Calf": (0.3, 6.4, -179.5),
    "CC_Base_R_Foot": (-8.2, 109.8, 137.8),
    "CC_Base_R_ToeBase": (-1.6, 130.1, 118.0),
    "CC_Base_R_Clavicle": (-11.4, -12.0, 87.8),
    "CC_Base_R_Upperarm": (0.7, 0.3, 92.5),
    "CC_Base_R_Forearm": (0.8, 0.4, 91.2),
    "CC_Base_R_Hand": (-1.8, -2.1, 95.7),
    "CC_Base_R_Mid1": (0.9, 1.0, 94.1),
    "CC_Base_R_Mid2": (0.7, 0.1, 94.3),
}
CMU_ICLONE = _builtin(
    "cmu_iclone",
    _sided(
        {
            "pelvis": "CC_Base_Pelvis",
            "{side}_hip": "CC_Base_{L}_Thigh",
            "{side}_knee": "CC_Base_{L}_Calf",
            "{side}_ankle": "CC_Base_{L}_Foot",
            "{side}_foot": "CC_Base_{L}_ToeBase",
            "{side}_foot_end": "CC_Base_{L}_MidToe1",
            "spine1": "CC_Base_Waist",
            "spine2": "CC_Base_Spine01",
            "spine3": "CC_Base_Spine02",
            "neck": "CC_Base_NeckTwist01",
            "head": "CC_Base_Head",
            "{side}_collar": "CC_Base_{L}_Clavicle",
            "{side}_shoulder": "CC_Base_{L}_Upperarm",
            "{side}_elbow": "CC_Base_{L}_Forearm",
            "{side}_wrist": "CC_Base_{L}_Hand",
            "{side}_hand": "CC_Base_{L}_Mid1",
            "{side}_hand_end": "CC_Base_{L}_Mid2",
        },
        "L",
        "R",
    ),
    _ICLONE_REFERENCE,
)

BUILTIN_SKELETONS: Mapping[str, SkeletonMap] = MappingProxyType(
    {s.name: s for s in (CMU_CGSPEED, CMU_DAZ, CMU_ICLONE)}
)
# short names accepted on the command line
SKELETON_ALIASES: Mapping[str, str] = MappingProxyType(
    {"cgspeed": "cmu_cgspeed", "daz": "cmu_daz", "iclone": "cmu_iclone"}
)


def detect_skeleton(joint_names: Iterable[str], source: str = "BVH file") -> SkeletonMap:
    """The built-in map whose BVH joints are all present in `joint_names`."""
    names = set(joint_names)
    for skeleton in BUILTIN_SKELETONS.values():
        if skeleton.bvh_joints() <= names:
            return skeleton
    sample = ", ".join(sorted(names)[:8])
    raise OpenHMRError(
        f"{source}: no built-in skeleton map fits its joints ({sample}, ...); expected one of "
        f"{list(BUILTIN_SKELETONS)} or a custom map file (--skeleton FILE, see docs/mocap.md)"
    )


def read_skeleton_map(path: str | os.PathLike) -> SkeletonMap:
    """A custom `SkeletonMap` from a JSON or YAML file (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise OpenHMRError(f"skeleton map {path}: cannot read ({err})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:
        raise OpenHMRError(f"skeleton map {path}: not valid JSON/YAML ({err})") from None
    if not isinstance(data, dict):
        raise OpenHMRError(f"skeleton map {path}: expected a mapping, got {type(data).__name__}")
    joints = data.get("joints", data)
    reference = data.get("reference", {}) if "joints" in data else {}
    if not isinstance(joints, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in joints.items()
    ):
        raise OpenHMRError(f"skeleton map {path}: 'joints' must map SMPL names to BVH names")
    try:
        reference = {k: tuple(float(x) for x in v) for k, v in reference.items()}
    except (TypeError, ValueError, AttributeError):
        raise OpenHMRError(f"skeleton map {path}: 'reference' values must be 3 numbers") from None
    if any(len(v) != 3 for v in reference.values()):
        raise OpenHMRError(f"skeleton map {path}: 'reference' values must be 3 numbers")
    return SkeletonMap(
        name=str(data.get("name", path.stem)) if "joints" in data else path.stem,
        joints=MappingProxyType(dict(joints)),
        reference=MappingProxyType(reference),
        up=str(data.get("up", "y")) if "joints" in data else "y",
    )


def skeleton_from_spec(spec: str | os.PathLike | SkeletonMap) -> SkeletonMap | str:
    """The map a spec names ("auto" stays "auto": each file picks its own), checked once
    before any file is read: a SkeletonMap, a built-in name (or alias) or a JSON/YAML map."""
    if isinstance(spec, SkeletonMap) or str(spec) == "auto":
        return spec if isinstance(spec, SkeletonMap) else "auto"
    if str(spec) in BUILTIN_SKELETONS or str(spec) in SKELETON_ALIASES:
        return BUILTIN_SKELETONS[SKELETON_ALIASES.get(str(spec), str(spec))]
    if Path(spec).is_file():
        return read_skeleton_map(spec)
    raise OpenHMRError(
        f"skeleton: expected 'auto', one of {[*SKELETON_ALIASES, *BUILTIN_SKELETONS]} or a "
        f"map file, got {str(spec)!r}"
    )


def resolve_skeleton(
    spec: str | os.PathLike | SkeletonMap, joint_names: Iterable[str], source: str = "BVH file"
) -> SkeletonMap:
    """The map for a file with `joint_names`: spec is a SkeletonMap, "auto", a built-in name
    (or alias), or a path to a JSON/YAML map.  Checks that the file has the joints it needs."""
    skeleton = skeleton_from_spec(spec)
    if skeleton == "auto":
        return detect_skeleton(joint_names, source)
    missing = skeleton.bvh_joints() - set(joint_names)
    if missing:
        raise OpenHMRError(
            f"{source}: skeleton map {skeleton.name!r} needs joints the file lacks: "
            f"{sorted(missing)}"
        )
    return skeleton
