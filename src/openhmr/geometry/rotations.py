"""Rotation representations as pure, batched, differentiable tensor functions.

Conventions: rotation matrices act on column vectors (x' = R x); axis-angle is a vector whose
direction is the axis and whose norm is the angle in radians; quaternions are (w, x, y, z) with
w ≥ 0 after normalisation. Leading dimensions are arbitrary (`...`).

6D representation (Zhou et al., CVPR 2019) comes in two published layouts:

- ``"columns"``: the first two *columns* of R, stored as the 3 × 2 matrix read row by row,
  i.e. [R00, R01, R10, R11, R20, R21]. SPIN, HMR 2.0 and VIBE use this layout.
- ``"rows"``: the first two *rows* of R, i.e. [R00, R01, R02, R10, R11, R12]. PyTorch3D's
  ``matrix_to_rotation_6d`` uses this layout.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from openhmr.errors import OpenHMRError

SIX_D_LAYOUTS = ("columns", "rows")


def _check_last(x: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    if tuple(x.shape[-len(shape) :]) != shape:
        raise OpenHMRError(
            f"{name}: expected shape (..., {', '.join(map(str, shape))}), got {tuple(x.shape)}"
        )


def skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices [v]_x. v: (..., 3) -> (..., 3, 3)."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).unflatten(-1, (3, 3))


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula. axis_angle: (..., 3) -> (..., 3, 3).

    Uses sin(θ)/θ and (1 − cos θ)/θ² with Taylor expansions near θ = 0, so the result and its
    gradient are exact and finite at zero rotation.
    """
    _check_last(axis_angle, (3,), "axis_angle")
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)  # ... x 1
    small = theta2 < 1e-6
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    a = torch.where(small, 1 - theta2 / 6 + theta2 * theta2 / 120, torch.sin(theta) / theta)
    b = torch.where(
        small, 0.5 - theta2 / 24 + theta2 * theta2 / 720, (1 - torch.cos(theta)) / safe2
    )
    K = skew(axis_angle)  # ... x 3 x 3
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a[..., None] * K + b[..., None] * (K @ K)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (w, x, y, z) -> rotation matrix. (..., 4) -> (..., 3, 3).

    The input is normalised first, so any non-zero quaternion is accepted.
    """
    _check_last(quaternion, (4,), "quaternion")
    w, x, y, z = F.normalize(quaternion, dim=-1).unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z),
        2 * (x * y - w * z),
        2 * (x * z + w * y),
        2 * (x * y + w * z),
        1 - 2 * (x * x + z * z),
        2 * (y * z - w * x),
        2 * (x * z - w * y),
        2 * (y * z + w * x),
        1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).unflatten(-1, (3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> unit quaternion (w, x, y, z) with w ≥ 0. (..., 3, 3) -> (..., 4).

    Picks, per matrix, the numerically best of the four classic formulas (largest diagonal
    term), so it is stable for every rotation including angles near π.
    """
    _check_last(matrix, (3, 3), "matrix")
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4 q_i^2 for i = w, x, y, z
    q_abs = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )
    q_abs = q_abs.clamp_min(0).sqrt()  # ... x 4, = 2|q_i|
    d21, d02, d10 = (
        m[..., 2, 1] - m[..., 1, 2],
        m[..., 0, 2] - m[..., 2, 0],
        m[..., 1, 0] - m[..., 0, 1],
    )
    s21, s02, s10 = (
        m[..., 2, 1] + m[..., 1, 2],
        m[..., 0, 2] + m[..., 2, 0],
        m[..., 1, 0] + m[..., 0, 1],
    )
    # each candidate is 4 q_i * q, computed from the formulas that divide by q_i
    candidates = torch.stack(
        [
            torch.stack([q_abs[..., 0] ** 2, d21, d02, d10], dim=-1),
            torch.stack([d21, q_abs[..., 1] ** 2, s10, s02], dim=-1),
            torch.stack([d02, s10, q_abs[..., 2] ** 2, s21], dim=-1),
            torch.stack([d10, s02, s21, q_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    )  # ... x 4 x 4
    best = q_abs.argmax(dim=-1, keepdim=True)  # ... x 1
    chosen = torch.gather(candidates, -2, best[..., None].expand(*best.shape[:-1], 1, 4))
    quat = chosen.squeeze(-2) / (2 * q_abs.gather(-1, best).clamp_min(1e-12))
    quat = F.normalize(quat, dim=-1)
    return torch.where(quat[..., :1] < 0, -quat, quat)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """Quaternion (w, x, y, z) -> axis-angle with angle in [0, π]. (..., 4) -> (..., 3)."""
    _check_last(quaternion, (4,), "quaternion")
    q = F.normalize(quaternion, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)
    xyz = q[..., 1:]
    sin_half = xyz.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    small = sin_half < 1e-6
    # angle / sin(angle/2) -> 2 as angle -> 0
    factor = torch.where(
        small,
        2 + angle * angle / 12,
        angle / torch.where(small, torch.ones_like(sin_half), sin_half),
    )
    return xyz * factor


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle -> unit quaternion (w, x, y, z). (..., 3) -> (..., 4)."""
    _check_last(axis_angle, (3,), "axis_angle")
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta2 < 1e-6
    theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    half_sinc = torch.where(small, 0.5 - theta2 / 48, torch.sin(theta / 2) / theta)
    w = torch.where(small, 1 - theta2 / 8, torch.cos(theta / 2))
    return torch.cat([w, axis_angle * half_sinc], dim=-1)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> axis-angle, angle in [0, π]. (..., 3, 3) -> (..., 3)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def mean_rotation(matrices: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """The chordal L2 mean of rotations along `dim`: the rotation nearest (Frobenius) to their
    arithmetic mean, by SVD with the determinant fixed to +1. (..., 3, 3) -> the same with
    `dim` removed."""
    _check_last(matrices, (3, 3), "matrices")
    average = matrices.mean(dim=dim)
    u, _, vh = torch.linalg.svd(average)
    sign = torch.sign(torch.linalg.det(u @ vh))
    fix = torch.ones(*average.shape[:-2], 3, dtype=average.dtype, device=average.device)
    fix[..., 2] = torch.where(sign == 0, torch.ones_like(sign), sign)
    return u @ torch.diag_embed(fix) @ vh


def polar_rotation(matrices: torch.Tensor, iterations: int = 12) -> torch.Tensor:
    """The rotation nearest (Frobenius) each matrix with a positive determinant, by Newton's
    iteration for the polar factor, R ↦ (R + R⁻ᵀ) / 2, R⁻ᵀ from the cofactors: arithmetic only
    (it exports to ONNX, where `mean_rotation`'s SVD does not). Equals the SVD's u·vᵀ to float
    precision once converged (quadratically, with Higham's scaling; 12 steps). A matrix with
    a determinant ≤ 0 (rotations averaging to a reflection) gets the Gram–Schmidt rotation of
    its first two columns instead. (..., 3, 3) -> (..., 3, 3)."""
    _check_last(matrices, (3, 3), "matrices")
    det = torch.linalg.det(matrices)[..., None, None]
    good = det > 0
    r = torch.where(good, matrices, torch.eye(3, dtype=matrices.dtype, device=matrices.device))
    for _ in range(iterations):
        c0, c1, c2 = r[..., :, 0], r[..., :, 1], r[..., :, 2]
        cofactors = torch.stack(
            [torch.cross(c1, c2, dim=-1), torch.cross(c2, c0, dim=-1), torch.cross(c0, c1, dim=-1)],
            dim=-1,
        )  # columns of det(R) · R⁻ᵀ
        inverse_t = cofactors / (c0 * cofactors[..., :, 0]).sum(-1)[..., None, None]
        # Higham's scaling: fast from any non-singular start
        gamma = (_frobenius(inverse_t) / _frobenius(r)).sqrt()
        r = 0.5 * (gamma * r + inverse_t / gamma)
    fallback = rotation_6d_to_matrix(matrices[..., :, :2].flatten(-2), layout="columns")
    return torch.where(good, r, fallback)


def _frobenius(m: torch.Tensor) -> torch.Tensor:
    return (m * m).sum(dim=(-2, -1), keepdim=True).sqrt()


def rotation_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The geodesic distance between rotations: the angle in radians, [0, π], of aᵀb.
    (..., 3, 3) × (..., 3, 3) -> (...)."""
    _check_last(a, (3, 3), "a")
    _check_last(b, (3, 3), "b")
    trace = (a * b).sum(dim=(-2, -1))  # trace(aᵀ b)
    return torch.arccos(((trace - 1) / 2).clamp(-1.0, 1.0))


def rotation_6d_to_matrix(six_d: torch.Tensor, layout: str = "columns") -> torch.Tensor:
    """6D -> rotation matrix by Gram–Schmidt. (..., 6) -> (..., 3, 3).

    layout: ``"columns"`` (SPIN, HMR 2.0) or ``"rows"`` (PyTorch3D); see the module docstring.
    """
    _check_last(six_d, (6,), "six_d")
    if layout == "columns":
        pairs = six_d.unflatten(-1, (3, 2))
        a1, a2 = pairs[..., 0], pairs[..., 1]
    elif layout == "rows":
        a1, a2 = six_d[..., :3], six_d[..., 3:]
    else:
        raise OpenHMRError(f"6D layout: expected one of {SIX_D_LAYOUTS}, got {layout!r}")
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    stack_dim = -1 if layout == "columns" else -2
    return torch.stack([b1, b2, b3], dim=stack_dim)


def matrix_to_rotation_6d(matrix: torch.Tensor, layout: str = "columns") -> torch.Tensor:
    """Rotation matrix -> 6D in the given layout. (..., 3, 3) -> (..., 6)."""
    _check_last(matrix, (3, 3), "matrix")
    if layout == "columns":
        return matrix[..., :, :2].flatten(-2)
    if layout == "rows":
        return matrix[..., :2, :].flatten(-2)
    raise OpenHMRError(f"6D layout: expected one of {SIX_D_LAYOUTS}, got {layout!r}")
