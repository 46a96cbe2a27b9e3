"""SMPL-format linear blend skinning as short pure tensor functions.

M(θ, β) = W(T_P(θ, β), J(β), θ, 𝒲):  shape blend shapes → joint regression → pose blend shapes →
forward kinematics → linear blend skinning (Loper et al., SMPL, 2015).  Every function is
batched, differentiable, and dtype/device agnostic.
"""

from __future__ import annotations

import functools

import torch


def shape_blend(
    v_template: torch.Tensor, shapedirs: torch.Tensor, betas: torch.Tensor
) -> torch.Tensor:
    """Rest vertices of a body shape: T + Σ β_n S_n.

    v_template: (V, 3); shapedirs: (V, 3, NB); betas: (B, NB).  Returns (B, V, 3).
    """
    batch = betas.shape[0]
    offsets = betas @ shapedirs.flatten(0, 1).T  # B x 3V
    return v_template.unsqueeze(0) + offsets.view(batch, -1, 3)


def regress_joints(regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Points as fixed linear combinations of vertices.

    regressor: (J, V); vertices: (B, V, 3).  Returns (B, J, 3).
    """
    return torch.matmul(regressor, vertices)


def pose_feature(rotations: torch.Tensor) -> torch.Tensor:
    """SMPL's pose-corrective input: (R_k − I) of the non-root joints, flattened.

    rotations: (B, J, 3, 3).  Returns (B, 9 (J − 1)).
    """
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    return (rotations[:, 1:] - eye).flatten(1)


def pose_blend(
    rest_vertices: torch.Tensor, posedirs: torch.Tensor, rotations: torch.Tensor
) -> torch.Tensor:
    """Add pose corrective blend shapes.

    rest_vertices: (B, V, 3); posedirs: (V, 3, 9 (J − 1)); rotations: (B, J, 3, 3).
    Returns (B, V, 3).
    """
    offsets = pose_feature(rotations) @ posedirs.flatten(0, 1).T  # B x 3V
    return rest_vertices + offsets.view_as(rest_vertices)


def kinematic_levels(parents: list[int] | tuple[int, ...]) -> list[list[int]]:
    """Joints grouped by depth in the kinematic tree (root first), so forward kinematics runs
    one batched matmul per level instead of one per joint."""
    depth: list[int] = []
    for parent in parents:
        depth.append(0 if parent < 0 else depth[parent] + 1)
    levels: list[list[int]] = [[] for _ in range(max(depth) + 1)]
    for joint, d in enumerate(depth):
        levels[d].append(joint)
    return levels


def _tree_indices(
    parents: tuple[int, ...], levels: tuple[tuple[int, ...], ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[torch.Tensor, torch.Tensor | None]]]:
    """Index tensors of a kinematic tree, made once per tree and device: root mask (J,),
    each joint's parent (roots: themselves) (J,), and per level its joints and their parents
    (None for the roots' level). Under torch.export / torch.compile tracing they are made
    afresh: a cached tracing tensor would break every later eager call."""
    if torch.compiler.is_compiling():
        return _make_tree_indices(parents, levels, device)
    return _cached_tree_indices(parents, levels, device)


def _make_tree_indices(
    parents: tuple[int, ...], levels: tuple[tuple[int, ...], ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[torch.Tensor, torch.Tensor | None]]]:
    with torch.inference_mode(False):  # cached for later calls, which may need autograd
        is_root = torch.tensor([p < 0 for p in parents], device=device)
        parent_index = torch.tensor(
            [p if p >= 0 else j for j, p in enumerate(parents)], device=device
        )
        steps = [
            (
                torch.tensor(level, device=device),
                None
                if parents[level[0]] < 0
                else torch.tensor([parents[j] for j in level], device=device),
            )
            for level in levels
        ]
    return is_root, parent_index, steps


_cached_tree_indices = functools.lru_cache(maxsize=32)(_make_tree_indices)


def forward_kinematics(
    rotations: torch.Tensor,
    joints: torch.Tensor,
    parents: list[int] | tuple[int, ...],
    levels: list[list[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose the skeleton.

    rotations: (B, J, 3, 3) local joint rotations; joints: (B, J, 3) rest joint positions;
    parents: J ints (root −1, every parent before its children).
    Returns posed joint positions (B, J, 3) and skinning transforms (B, J, 3, 4): the rigid map
    taking a rest-pose point attached to joint j to its posed position.
    """
    levels = levels or kinematic_levels(parents)
    is_root, parent_index, steps = _tree_indices(
        tuple(parents), tuple(tuple(level) for level in levels), joints.device
    )
    # bone vectors from each parent; a root keeps its absolute position
    offsets = torch.where(is_root[:, None], joints, joints - joints[:, parent_index])  # B x J x 3
    batch, count = joints.shape[:2]
    # local rigid transforms [R | offset] as 4 x 4 so that one matmul per tree level chains them
    # (few autograd nodes: fitting runs this forward and backward hundreds of times)
    bottom = joints.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(batch, count, 1, 4)
    local = torch.cat([torch.cat([rotations, offsets[..., None]], dim=-1), bottom], dim=-2)
    world = local.new_zeros(batch, count, 4, 4)  # B x J x 4 x 4
    for idx, parent_idx in steps:
        placed = local[:, idx] if parent_idx is None else world[:, parent_idx] @ local[:, idx]
        world = world.index_copy(1, idx, placed)
    rot, posed_joints = world[..., :3, :3], world[..., :3, 3]  # B x J x 3 x 3, B x J x 3
    # a rest point p maps to R_g (p − j_rest) + j_posed
    translation = posed_joints - (rot @ joints[..., None])[..., 0]
    return posed_joints, torch.cat([rot, translation[..., None]], dim=-1)


def skin(vertices: torch.Tensor, weights: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning: v' = Σ_j w_vj (R_j v + t_j).

    vertices: (B, V, 3) rest-pose vertices; weights: (V, J); transforms: (B, J, 3, 4).
    Returns (B, V, 3).
    """
    batch, num_joints = transforms.shape[:2]
    blended = (weights @ transforms.reshape(batch, num_joints, 12)).view(batch, -1, 3, 4)
    return (blended[..., :3] @ vertices[..., None])[..., 0] + blended[..., 3]


def pose_channel_major(
    rotations: torch.Tensor,
    betas: torch.Tensor,
    rest_template: torch.Tensor,
    shape_basis: torch.Tensor,
    pose_basis: torch.Tensor | None,
    joint_template: torch.Tensor,
    joint_shape_basis: torch.Tensor,
    skinning_weights: torch.Tensor,
    parents: tuple[int, ...],
    levels: list[list[int]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole LBS in the channel-major layout `BodyModel` stores (entry c · U + u for
    coordinate c of vertex u), for all vertices or any subset U of them.

    rotations (B, J, 3, 3); betas (B, n); rest_template (3U,); shape_basis (≥n, 3U);
    pose_basis (9(J−1), 3U) or None; joint_template (1, J, 3); joint_shape_basis (≥n, 3J);
    skinning_weights (J, U). Returns posed vertices (B, 3, U) and posed joints (B, J, 3).
    """
    batch, n = betas.shape
    rest = rest_template.expand(batch, -1)  # B x 3U: T + S β + P f(θ)
    joints = joint_template.expand(batch, -1, -1)  # B x J x 3: J_T + J_S β
    if n:
        rest = torch.addmm(rest, betas, shape_basis[:n])
        joints = joints + (betas @ joint_shape_basis[:n]).view(batch, -1, 3)
    if pose_basis is not None:
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        feature = (rotations[:, 1:] - eye).flatten(1)  # B x 9(J-1)
        # in place when rest is already this call's own tensor: saves a pass over B x 3U
        rest = rest.addmm_(feature, pose_basis) if n else torch.addmm(rest, feature, pose_basis)
    rest = rest.view(batch, 3, -1)  # B x 3 x U
    posed_joints, transforms = forward_kinematics(rotations, joints, parents, levels)
    # per-vertex blended transform [R | t] (B x 3 x 4 x U) as one (12B x J) @ (J x U) GEMM
    # (a batched matmul against the broadcast weights ran 1.1-4x slower), then R v + t
    rows = transforms.flatten(2).transpose(1, 2).reshape(batch * 12, -1)  # 12B x J
    blended = (rows @ skinning_weights).view(batch, 3, 4, -1)
    # one fresh B x 3 x U result, then in place: two more out-of-place results had their pages
    # faulted in afresh every call (~10k minor page faults per call at B = 64, U = 6890).
    # unbind, not four blended[:, :, k] slices: its backward stacks the four gradients into one
    # tensor instead of zero-filling a B x 3 x 4 x U gradient per slice (backward 1.4x faster)
    r0, r1, r2, t = blended.unbind(2)  # B x 3 x U each: the rows of R, and t
    x, y, z = rest.unbind(1)  # B x U each
    posed = torch.addcmul(t, r0, x[:, None])
    posed.addcmul_(r1, y[:, None])
    posed.addcmul_(r2, z[:, None])
    return posed, posed_joints


def lbs(
    betas: torch.Tensor,
    rotations: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor | None,
    joint_regressor: torch.Tensor,
    parents: list[int] | tuple[int, ...],
    weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole SMPL function, written plainly (the `BodyModel` module computes the same with
    cached products).

    betas: (B, NB); rotations: (B, J, 3, 3); v_template: (V, 3); shapedirs: (V, 3, NB);
    posedirs: (V, 3, 9 (J − 1)) or None; joint_regressor: (J, V); weights: (V, J).
    Returns posed vertices (B, V, 3) and posed joints (B, J, 3).
    """
    rest = shape_blend(v_template, shapedirs, betas)
    joints = regress_joints(joint_regressor, rest)
    if posedirs is not None:
        rest = pose_blend(rest, posedirs, rotations)
    posed_joints, transforms = forward_kinematics(rotations, joints, parents)
    return skin(rest, weights, transforms), posed_joints
