"""Detection's side of the predictor: an image file read as RGB, person boxes checked against
the image, and each box's square crop (the released HMR demo's ~150 px person in a 224 crop)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from openhmr.data.crop import crop_matrix, warp_image
from openhmr.errors import OpenHMRError
from openhmr.images import check_boxes
from openhmr.inference.detect import Detections
from openhmr.model.hmr import CROP_SIZE

PERSON_PX = 150.0  # the person's longer box side in the 224 crop (released HMR demo)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3)."""
    path = Path(path)
    if not path.is_file():
        raise OpenHMRError(f"{path}: no such image file")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise OpenHMRError(f"{path}: not an image OpenCV can read (expected JPEG, PNG, ...)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def as_detections(found: Detections | np.ndarray | Sequence, width: int, height: int) -> Detections:
    """Boxes given as `Detections` or an (N, 4) x, y, w, h array, checked against the image
    (`check_boxes`); arrays get scores of 1 and no keypoints."""
    if isinstance(found, Detections):
        boxes = check_boxes(found.boxes, width, height)
        return Detections(boxes, np.asarray(found.scores, np.float64), found.keypoints)
    boxes = check_boxes(found, width, height)
    return Detections(boxes, np.ones(len(boxes)))


def crop_boxes(
    image: np.ndarray, boxes: np.ndarray, res: int = CROP_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person boxes (N, 4) -> crops (N, res, res, 3) uint8, centres (N, 2), sides (N,) in
    image pixels (the person's longer side fills PERSON_PX of a 224 crop, whatever res)."""
    centers = boxes[:, :2] + boxes[:, 2:] / 2
    sides = boxes[:, 2:].max(axis=1) * CROP_SIZE / PERSON_PX
    crops = [
        warp_image(image, crop_matrix(center, side / 200.0, res), res)
        for center, side in zip(centers, sides, strict=True)
    ]
    crops = np.stack(crops) if crops else np.zeros((0, res, res, 3), np.uint8)
    return crops, centers, sides
