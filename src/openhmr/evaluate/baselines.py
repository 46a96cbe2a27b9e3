"""Reference predictors a trained model must beat."""

from __future__ import annotations

import copy

import torch

from openhmr.model import HMR


def mean_pose_model(model: HMR) -> HMR:
    """A copy of `model` that outputs its mean Θ₀ for every image (the IEF updates are zero):
    the mean pose and shape, placed by the crop box with the mean crop camera."""
    baseline = copy.deepcopy(model)
    with torch.no_grad():
        baseline.regressor.fc3.weight.zero_()
        baseline.regressor.fc3.bias.zero_()
    return baseline.eval()
