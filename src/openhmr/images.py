"""Checks of the images and person boxes that users pass in: one `OpenHMRError` naming what
was expected and what was found."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openhmr.errors import OpenHMRError


def check_image(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 (H, W, 3) array, or an error naming what was found."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
        raise OpenHMRError(
            f"image: expected an RGB uint8 array (H, W, 3), got {image.dtype} {image.shape}"
        )
    return image


def check_boxes(boxes: np.ndarray | Sequence, width: int, height: int) -> np.ndarray:
    """Boxes (N, 4) x, y, w, h with positive sizes, each overlapping the image -> float64."""
    try:
        boxes = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise OpenHMRError("box: expected numbers x, y, w, h per box") from None
    if boxes.size % 4 or boxes.ndim > 2 or (boxes.ndim == 2 and boxes.shape[1] != 4):
        raise OpenHMRError(f"box: expected (N, 4) x, y, w, h, got shape {boxes.shape}")
    boxes = boxes.reshape(-1, 4)
    if not np.isfinite(boxes).all() or (boxes[:, 2:] <= 0).any():
        raise OpenHMRError(f"box: expected x, y, w, h with w, h > 0, got {boxes.tolist()}")
    outside = (
        (boxes[:, 0] >= width)
        | (boxes[:, 1] >= height)
        | (boxes[:, 0] + boxes[:, 2] <= 0)
        | (boxes[:, 1] + boxes[:, 3] <= 0)
    )
    if outside.any():
        box = boxes[outside][0].tolist()
        raise OpenHMRError(f"box {box} (x, y, w, h) lies outside the {width}x{height} image")
    return boxes
