"""The paper's crop: one affine warp from the full image to a square crop around a person box,
keypoints moved by the same matrix (no rounding), coordinates normalised to [−1, 1].

Coordinates are continuous pixels (pixel j covers [j, j + 1)), in the image and in the crop,
so a horizontal flip of the crop is exactly u ↦ res − u, i.e. n ↦ −n after normalisation.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from openhmr.errors import OpenHMRError


def crop_matrix(
    center: np.ndarray, scale: float, res: int = 224, rotation_deg: float = 0.0
) -> np.ndarray:
    """Affine (2, 3) taking image pixels to crop pixels: u = s·Rot·(x − c) + res/2 with
    s = res / (200·scale); the box side 200·scale fills the crop. rotation_deg turns the
    content counter-clockwise on screen."""
    s = res / (200.0 * float(scale))
    angle = math.radians(rotation_deg)
    cos, sin = math.cos(angle), math.sin(angle)
    linear = s * np.array([[cos, sin], [-sin, cos]])  # y is down: on-screen CCW
    translation = res / 2.0 - linear @ np.asarray(center, dtype=np.float64)
    return np.concatenate([linear, translation[:, None]], axis=1)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply an affine (2, 3) to points (..., 2) → (..., 2) (float64, no rounding)."""
    return np.asarray(points, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]


def warp_image(image: np.ndarray, matrix: np.ndarray, res: int = 224) -> np.ndarray:
    """Warp an (H, W, 3) uint8 image into the (res, res, 3) crop; outside is black.

    OpenCV puts pixel centres at integers; the continuous-pixel matrix is conjugated by
    the half-pixel shift so image content and keypoints stay aligned.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise OpenHMRError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    opencv = matrix.copy()
    opencv[:, 2] += matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return cv2.warpAffine(
        image,
        opencv,
        (res, res),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def normalize_keypoints(crop_points: np.ndarray, res: int = 224) -> np.ndarray:
    """Crop pixels (..., 2) → [−1, 1] coordinates: 2u/res − 1."""
    return 2.0 * np.asarray(crop_points) / res - 1.0


def box_from_keypoints(
    keypoints: np.ndarray,
    person_px: float = 150.0,
    crop_px: int = 224,
) -> tuple[np.ndarray, float]:
    """The released HMR code's box: centre of the visible keypoints' bounding box, side such
    that the keypoints' longest extent becomes `person_px` in a `crop_px` crop.

    keypoints: (K, 3) x, y, visibility.  Returns center (2,) and scale (= side / 200).
    """
    visible = keypoints[keypoints[:, 2] > 0, :2]
    if len(visible) < 2:
        raise OpenHMRError("need at least two visible keypoints to place a box")
    low, high = visible.min(axis=0), visible.max(axis=0)
    extent = max(float((high - low).max()), 1.0)
    side = extent * crop_px / person_px
    return (low + high) / 2.0, side / 200.0
