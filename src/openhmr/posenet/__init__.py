"""Imported pretrained pose networks: the TF.js graph-model reader, MoveNet (MobileNetV2 +
FPN + CenterNet heads, single- and multi-person decoding) and BlazePose GHUM (2D + metric 3D
landmarks, person mask; MediaPipe's crop rule) in PyTorch."""

from openhmr.posenet.blazepose import BlazePose, BlazePoseLandmarks
from openhmr.posenet.movenet import (
    COCO_KEYPOINTS,
    MoveNet,
    MoveNetOutput,
    PoseDetections,
)
from openhmr.posenet.tfjs import GraphModel, read_graph_model

__all__ = [
    "COCO_KEYPOINTS",
    "BlazePose",
    "BlazePoseLandmarks",
    "GraphModel",
    "MoveNet",
    "MoveNetOutput",
    "PoseDetections",
    "read_graph_model",
]
