"""The HMR network: ResNet-50 encoders, the IEF regressor, the factorized discriminator, and
weight import/export (openhmr checkpoints, SPIN, the original TF model, ImageNet, ONNX)."""

from openhmr.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from openhmr.model.discriminator import Discriminator
from openhmr.model.hmr import HMR, HMRConfig, HMROutput
from openhmr.model.regressor import IEFRegressor, SpinRegressor, Theta, default_mean_theta
from openhmr.model.resnet import ResNetV1, ResNetV2, build_backbone

__all__ = [
    "HMR",
    "Checkpoint",
    "Discriminator",
    "HMRConfig",
    "HMROutput",
    "IEFRegressor",
    "ResNetV1",
    "ResNetV2",
    "SpinRegressor",
    "Theta",
    "build_backbone",
    "default_mean_theta",
    "load_checkpoint",
    "save_checkpoint",
]
