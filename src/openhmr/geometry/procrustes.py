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


def procrustes_transform(source: torch.Tensor, target: torch.Tensor) -> SimilarityTransform:
    """The similarity transform (rotation, uniform scale, translation) minimising
    Σ ||s R x_i + t − y_i||² with det R = +1 (reflections are never returned).

    source, target: (B, N, 3), N ≥ 3 points in correspondence.
    """
    if source.shape != target.shape or source.ndim != 3 or source.shape[-1] != 3:
        raise OpenHMRError(
            f"procrustes: expected two (B, N, 3) tensors of equal shape, got "
            f"{tuple(source.shape)} and {tuple(target.shape)}"
        )
    mu_source = source.mean(dim=1, keepdim=True)  # B x 1 x 3
    mu_target = target.mean(dim=1, keepdim=True)
    x = source - mu_source
    y = target - mu_target
    variance = (x * x).sum(dim=(1, 2))  # B
    covariance = y.transpose(1, 2) @ x  # B x 3 x 3, Σ y_i x_iᵀ
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
