"""Batched similarity Procrustes alignment (Umeyama 1991), with the reflection fix."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from openhmr.errors import OpenHMRError


@dataclass(frozen=True)
class SimilarityTransform:
    """x ↦ scale · R x + translation.  scale: (B,), rotation: (B, 3, 3), translation: (B, 3)."""

    scale: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """points: (B, N, 3) -> (B, N, 3)."""
        return (
            self.scale[:, None, None] * points @ self.rotation.transpose(1, 2)
            + self.translation[:, None, :]
        )


def procrustes_transform(
    source: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    rotate: bool = True,
) -> SimilarityTransform:
    """The similarity transform (rotation, uniform scale, translation) minimising
    Σ w_i ||s R x_i + t − y_i||² with det R = +1 (reflections are never returned).

    source, target: (B, N, 3), N ≥ 3 points in correspondence; weights: (B, N) ≥ 0 (None: all
    1; a row needs three non-collinear points of positive weight); rotate: False keeps R = I
    (scale and translation only).
    """
    if source.shape != target.shape or source.ndim != 3 or source.shape[-1] != 3:
        raise OpenHMRError(
            f"procrustes: expected two (B, N, 3) tensors of equal shape, got "
            f"{tuple(source.shape)} and {tuple(target.shape)}"
        )
    if weights is None:
        weights = torch.ones_like(source[..., 0])
    elif weights.shape != source.shape[:2]:
        raise OpenHMRError(
            f"procrustes: expected weights {tuple(source.shape[:2])}, got {tuple(weights.shape)}"
        )
    w = (weights / weights.sum(1, keepdim=True).clamp_min(1e-12))[..., None]  # B x N x 1
    mu_source = (w * source).sum(dim=1, keepdim=True)  # B x 1 x 3
    mu_target = (w * target).sum(dim=1, keepdim=True)
    x = source - mu_source
    y = target - mu_target
    variance = (w * x * x).sum(dim=(1, 2))  # B
    if not rotate:
        scale = (w * x * y).sum(dim=(1, 2)) / variance.clamp_min(1e-12)
        eye = torch.eye(3, dtype=source.dtype, device=source.device).expand(len(source), 3, 3)
        translation = mu_target[:, 0] - scale[:, None] * mu_source[:, 0]
        return SimilarityTransform(scale, eye, translation)
    covariance = y.transpose(1, 2) @ (w * x)  # B x 3 x 3, Σ w_i y_i x_iᵀ
    U, S, Vh = torch.linalg.svd(covariance)
    # flip the weakest axis where the best orthogonal matrix would be a reflection
    sign = torch.sign(torch.linalg.det(U @ Vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    D = torch.ones_like(S)
    D = torch.cat([D[:, :2], sign[:, None]], dim=1)  # B x 3
    rotation = U @ (D[:, :, None] * Vh)
    scale = (S * D).sum(dim=1) / variance.clamp_min(1e-12)
    rotated_mean = (rotation @ mu_source[:, 0, :, None])[..., 0]  # B x 3
    translation = mu_target[:, 0] - scale[:, None] * rotated_mean
    return SimilarityTransform(scale, rotation, translation)


def procrustes_align(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """source aligned onto target by the best similarity transform. (B, N, 3) -> (B, N, 3)."""
    return procrustes_transform(source, target).apply(source)
