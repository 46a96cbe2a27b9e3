"""Image → mesh for users: prediction, person detection, OpenPose boxes, overlays, export, video."""

from openhmr.inference.detect import (
    Detections,
    MoveNetPersonDetector,
    PersonDetector,
)
from openhmr.inference.export import write_glb, write_obj, write_ply
from openhmr.inference.people import Person, default_focal_length
from openhmr.inference.predictor import Predictor

__all__ = [
    "Detections",
    "MoveNetPersonDetector",
    "Person",
    "PersonDetector",
    "Predictor",
    "default_focal_length",
    "write_glb",
    "write_obj",
    "write_ply",
]
