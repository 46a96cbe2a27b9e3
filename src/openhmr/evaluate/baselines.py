"""Reference predictors a trained model must beat."""

from __future__ import annotations

import copy

import torch
from torch import nn

from openhmr.model import HMR


class _NoFeatures(nn.Module):
    """images (B, ...) -> zeros (B, feature_dim): φ for a regressor whose updates ignore it."""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.new_zeros(images.shape[0], self.feature_dim)


def mean_pose_model(model: HMR) -> HMR:
    """A copy of `model` that outputs its mean Θ₀ for every image (the IEF updates are zero):
    the mean pose and shape, placed by the crop box with the mean crop camera (an ensemble's
    heads' Θ₀ averaged; a `root_start` network's root reader is dropped, so its root is the
    mean's too). With the updates zero the output does not depend on φ, so the copy skips
    the encoder (zeros)."""
    # the memo makes the copy take the stand-in where it meets the encoder
    memo = {id(model.encoder): _NoFeatures(model.encoder.feature_dim)}
    baseline = copy.deepcopy(model, memo)
    baseline.root_reader = None  # a root-start network's Θ₀ root too is the mean's
    with torch.no_grad():
        for head in (baseline.regressor, *baseline.extra_heads):
            head.fc3.weight.zero_()
            head.fc3.bias.zero_()
    return baseline.eval()
