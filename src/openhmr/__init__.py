"""openhmr: End-to-end Recovery of Human Shape and Pose (Kanazawa et al., CVPR 2018) in PyTorch."""

from openhmr.body import BodyModel, BodyOutput, load_body_model
from openhmr.errors import OpenHMRError
from openhmr.fit import FitConfig, FitResult, fit_keypoints
from openhmr.inference import Person, Predictor
from openhmr.model import HMR, Discriminator, HMROutput, load_checkpoint, save_checkpoint
from openhmr.posenet import BlazePose, BlazePoseLandmarks, MoveNet, PoseDetections

__version__ = "0.1.0"
__all__ = [
    "HMR",
    "BlazePose",
    "BlazePoseLandmarks",
    "BodyModel",
    "BodyOutput",
    "Discriminator",
    "FitConfig",
    "FitResult",
    "HMROutput",
    "MoveNet",
    "OpenHMRError",
    "Person",
    "PoseDetections",
    "Predictor",
    "__version__",
    "fit_keypoints",
    "load_body_model",
    "load_checkpoint",
    "save_checkpoint",
]
