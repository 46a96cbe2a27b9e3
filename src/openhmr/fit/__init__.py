"""Test-time fitting of HMR's estimate to 2D keypoints (robust reprojection + priors, including
HMR's trained discriminator).  See docs/fitting.md."""

from openhmr.fit.config import FitConfig, config_from_options
from openhmr.fit.fitting import FitResult, fit_keypoints, keypoints_to_crop
from openhmr.fit.guides import FitGuides, PoseEvidence
from openhmr.fit.keypoints import COCO17_NAMES, LAYOUTS, body_matrix, read_keypoints

__all__ = [
    "COCO17_NAMES",
    "LAYOUTS",
    "FitConfig",
    "FitGuides",
    "FitResult",
    "PoseEvidence",
    "body_matrix",
    "config_from_options",
    "fit_keypoints",
    "keypoints_to_crop",
    "read_keypoints",
]
