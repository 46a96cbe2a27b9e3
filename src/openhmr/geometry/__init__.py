"""Geometry: rotations, cameras, Procrustes alignment (pure, batched, differentiable)."""

from openhmr.geometry.camera import (
    crop_to_full_perspective,
    perspective_project,
    weak_perspective_project,
)
from openhmr.geometry.procrustes import (
    SimilarityTransform,
    procrustes_align,
    procrustes_transform,
)
from openhmr.geometry.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    mean_rotation,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    rotation_angle,
)

__all__ = [
    "SimilarityTransform",
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "crop_to_full_perspective",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "mean_rotation",
    "perspective_project",
    "procrustes_align",
    "procrustes_transform",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "rotation_6d_to_matrix",
    "rotation_angle",
    "weak_perspective_project",
]
