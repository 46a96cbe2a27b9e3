"""Network inputs from photos: square person crops and letter-boxing.

Continuous pixel coordinates (pixel j covers [j, j + 1)) in the photo and in the network's
input, as in `openhmr.data.crop`; MoveNet's outputs scaled by the input side are in the same
convention, so x_image = a · u + b exactly. Strong downscaling goes through an area-averaged
copy of the photo first, so small inputs do not alias.
"""

from __future__ import annotations

import cv2
import numpy as np


def _warp(image: np.ndarray, scale: tuple[float, float], x0: float, y0: float, size: int):
    """The (size, size) view whose pixel (u, v) covers image [x0 + u / sx, ...) × [y0 + ...)."""
    sx, sy = scale
    # OpenCV puts pixel centres at integers: conjugate the continuous map by the half pixel.
    matrix = np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5]])
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def _shrunk(image: np.ndarray, factor: int, cache: dict) -> tuple[np.ndarray, float, float]:
    """The photo area-averaged by about `factor` (cached), and its x, y scales."""
    if factor not in cache:
        height, width = image.shape[:2]
        size = (max(1, round(width / factor)), max(1, round(height / factor)))
        cache[factor] = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small = cache[factor]
    return small, small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]


def _view(image, x0, y0, side_x, side_y, size, cache):
    factor = int(min(side_x, side_y) / size / 1.5) + 1  # keep >= 1.5 source px per output px
    source, fx, fy = _shrunk(image, factor, cache) if factor > 1 else (image, 1.0, 1.0)
    return _warp(source, (size / (side_x * fx), size / (side_y * fy)), x0 * fx, y0 * fy, size)


def square_crops(image: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) x, y, w, h -> crops (N, size, size, 3) uint8 of the square about each
    box's centre with side max(w, h) (black outside the photo), and (N, 3) = a, bx, by with
    image = a · crop + b."""
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    sides = boxes[:, 2:].max(axis=1)
    corners = centres - sides[:, None] / 2
    cache: dict = {}
    crops = [
        _view(image, x0, y0, side, side, size, cache)
        for (x0, y0), side in zip(corners, sides, strict=True)
    ]
    crops = np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)
    return crops, np.concatenate([sides[:, None] / size, corners], axis=1)


def fit_to_stride(image: np.ndarray, size: int, stride: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The photo scaled so its longer side is `size` (area-averaged when shrinking, bilinear
    when enlarging), at the top left of a black canvas whose height and width are each the
    scaled side rounded up to a multiple of `stride` -> (H', W', 3) uint8 and the x, y scales
    (2,) (input pixels per image pixel; each side is a whole number of pixels, so they differ
    by under half a pixel over the side)."""
    height, width = image.shape[:2]
    factor = size / max(height, width)
    scaled_w, scaled_h = max(1, round(width * factor)), max(1, round(height * factor))
    smaller = scaled_w * scaled_h < width * height
    scaled = cv2.resize(
        image, (scaled_w, scaled_h), interpolation=cv2.INTER_AREA if smaller else cv2.INTER_LINEAR
    )
    canvas = np.zeros(
        (-(-scaled_h // stride) * stride, -(-scaled_w // stride) * stride, 3), np.uint8
    )
    canvas[:scaled_h, :scaled_w] = scaled
    return canvas, np.array([scaled_w / width, scaled_h / height])


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The photo scaled so its longer side is `size`, at the top left of a black square of
    that side -> (size, size, 3) uint8 and the scale (input pixels per image pixel)."""
    side = float(max(image.shape[:2]))
    return _view(image, 0.0, 0.0, side, side, size, {}), size / side
