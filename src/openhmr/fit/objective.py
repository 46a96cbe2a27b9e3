"""The fitting objective's terms, per person (each returns (B,)), as pure functions.

    E = Σ_k c_k ρ(‖x̂_k − x_k‖; σ)                       robust, confidence-weighted reprojection
      + w_angle Σ_j Σ_axis excess(θ_j, limits)²         joint-angle prior (outside the limits)
      + w_adv Σ_i (D_i(R, β) − 1)²                      the trained discriminator's LS score
      + w_shape ‖β‖²                                    shape prior (β ~ N(0, I))
      + w_pose ‖θ − θ̂‖² + w_betas ‖β − β̂‖²             pull towards the regressor's estimate

ρ is Geman–McClure, scaled to [0, 1): ρ(r; σ) = r² / (r² + σ²), so a keypoint far off costs at
most its confidence and the priors' weights read in units of "one confident keypoint".
"""

from __future__ import annotations

import torch

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


def squared_norm(value: torch.Tensor) -> torch.Tensor:
    """Σ of squares over all but the batch dimension.  (B, ...) -> (B,)"""
    return (value * value).flatten(1).sum(-1)
