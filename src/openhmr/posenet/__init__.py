"""Imported pretrained pose networks: the TF.js graph-model reader and MoveNet (MobileNetV2 +
FPN + CenterNet heads, single- and multi-person decoding) in PyTorch."""

from openhmr.posenet.movenet import (
    COCO_KEYPOINTS,
    MoveNet,
    MoveNetOutput,
    PoseDetections,
)
from openhmr.posenet.tfjs import GraphModel, read_graph_model

__all__ = [
    "COCO_KEYPOINTS",
    "GraphModel",
    "MoveNet",
    "MoveNetOutput",
    "PoseDetections",
    "read_graph_model",
]
