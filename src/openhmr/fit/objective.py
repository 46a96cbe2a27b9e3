"""The fitting objective's terms, per person (each returns (B,)), as pure functions.

    E = Σ_k c_k ρ(‖x̂_k − x_k‖; σ)                       robust, confidence-weighted reprojection
      + w_angle Σ_j Σ_axis excess(θ_j, limits)²         joint-angle prior (outside the limits)
      + w_adv Σ_i (D_i(R, β) − 1)²                      the trained discriminator's LS score
      + w_shape ‖β‖²                                    shape prior (β ~ N(0, I))
      + w_pose ‖θ − θ̂‖² + w_betas ‖β − β̂‖²             pull towards the regressor's estimate
      + w_depth Σ_k (z_k − ẑ_k)²                         its keypoints' relative depth (camera z)
      + w_world Σ_k v_k ρ(‖T(X_k) − Y_k‖; σ_world)        3D landmarks Y (BlazePose's world),
                                                        T the best similarity of the body onto Y
      + w_sil [mean_v ρ(d_mask(x̂_v)) + mean_m ρ(min_v ‖p_m − x̂_v‖)]   silhouette, both ways

ρ is Geman–McClure, scaled to [0, 1): ρ(r; σ) = r² / (r² + σ²), so a keypoint far off costs at
most its confidence and the priors' weights read in units of "one confident keypoint".
"""

from __future__ import annotations

import torch

from openhmr.geometry.procrustes import procrustes_transform
from openhmr.model.discriminator import Discriminator


def geman_mcclure(residual: torch.Tensor, scale: float) -> torch.Tensor:
    """ρ(r) = r² / (r² + σ²) of squared residual norms.  residual: (..., 2) -> (...)."""
    squared = (residual * residual).sum(-1)
    return squared / (squared + scale * scale)


def reprojection_term(
    projected: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, scale: float
) -> torch.Tensor:
    """Σ_k w_k ρ(‖x̂_k − x_k‖).  projected, target: (B, K, 2); weights: (B, K).  -> (B,)"""
    return (weights * geman_mcclure(projected - target, scale)).sum(-1)


def reprojection_error(
    projected: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """The reported fit error: Σ_k w_k ‖x̂_k − x_k‖ / Σ_k w_k, the confidence-weighted mean
    distance (units of the coordinates; NaN where no keypoint weighs).  -> (B,)"""
    distance = torch.linalg.vector_norm(projected - target, dim=-1)  # B x K
    return (weights * distance).sum(-1) / weights.sum(-1)


def joint_angle_term(body_pose: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """Σ squared excess of the axis-angle components beyond their limits (radians²).
    body_pose: (B, 23, 3) axis-angle of the non-root joints; limits: (23, 3, 2).  -> (B,)"""
    below = (limits[..., 0] - body_pose).clamp_min(0)
    above = (body_pose - limits[..., 1]).clamp_min(0)
    return (below * below + above * above).flatten(1).sum(-1)


def adversarial_term(
    discriminator: Discriminator, rotations: torch.Tensor, betas: torch.Tensor
) -> torch.Tensor:
    """HMR's encoder-side least-squares score, Σ_i (D_i − 1)² over the 25 outputs.
    rotations: (B, 23, 3, 3) non-root; betas: (B, 10).  -> (B,)"""
    scores = discriminator(rotations, betas)  # B x 25
    return ((scores - 1) ** 2).sum(-1)


def relative_depth(points: torch.Tensor) -> torch.Tensor:
    """Each keypoint's depth (camera z) relative to the keypoints' mean.  (B, K, 3) -> (B, K)"""
    depth = points[..., 2]
    return depth - depth.mean(-1, keepdim=True)


def squared_norm(value: torch.Tensor) -> torch.Tensor:
    """Σ of squares over all but the batch dimension.  (B, ...) -> (B,)"""
    return (value * value).flatten(1).sum(-1)


def world_term(
    points: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    scale: float,
    rotate: bool = True,
) -> torch.Tensor:
    """Σ_k w_k ρ(‖T(X_k) − Y_k‖; σ): the body's 3D keypoints X moved onto 3D landmarks Y by the
    weighted similarity T (rotation, scale, translation; `rotate` False: scale and translation
    only, so the landmarks' own axes, the camera's, also hold the body's orientation), in the
    landmarks' units (aligning the landmarks onto the body instead would reward a body that
    shrinks or curls up).  T is found without gradient: at the least-squares optimum the
    gradient with T held is the exact one.  points, target: (B, K, 3) metres; weights: (B, K),
    a row with fewer than three positive weights must be all 0.  -> (B,)"""
    with torch.no_grad():
        transform = procrustes_transform(points.detach(), target, weights, rotate)
    return (weights * geman_mcclure(transform.apply(points) - target, scale)).sum(-1)


def silhouette_term(
    projected: torch.Tensor,
    outside: torch.Tensor,
    inside_points: torch.Tensor,
    inside_weights: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """How far the projected body and a person mask disagree, both ways, each a mean of
    ρ(distance; σ) in [0, 1): the body's vertices outside the mask (d_mask, the distance from
    each crop pixel to the mask, read bilinearly) and the mask's points far from every vertex.
    projected: (B, V, 2) crop coordinates in [−1, 1]; outside: (B, 1, S, S) distances (crop
    units) over the crop's square; inside_points: (B, M, 2) points of the mask; inside_weights:
    (B, M) 1 for a point, 0 for padding (a row of zeros: no mask, the term is 0).  -> (B,)"""
    grid = projected[:, :, None, :]  # B x V x 1 x 2
    distance = torch.nn.functional.grid_sample(
        outside, grid, mode="bilinear", padding_mode="border", align_corners=False
    )[:, 0, :, 0]  # B x V
    squared = distance * distance
    body_out = (squared / (squared + scale * scale)).mean(-1)
    gaps = torch.cdist(inside_points, projected).min(-1).values  # B x M
    gaps = gaps * gaps
    mask_out = (inside_weights * gaps / (gaps + scale * scale)).sum(-1)
    count = inside_weights.sum(-1)
    has_mask = (count > 0).to(projected.dtype)
    return has_mask * body_out + mask_out / count.clamp_min(1)
