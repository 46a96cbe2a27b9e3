"""Dalal–Triggs HOG pedestrian detector, vectorised numpy, with the linear SVM that OpenCV 4
ships as ``HOGDescriptor_getDefaultPeopleDetector()`` (bundled as ``assets/hog_people_svm.npy``;
OpenCV 5 dropped HOG from its main module, so the computation lives here).

The descriptor follows OpenCV's: √-gamma, centred [−1, 0, 1] gradients (the colour channel with
the largest magnitude), 9 unsigned orientation bins interpolated linearly, 8 × 8 cells, 16 × 16
blocks at stride 8 with a Gaussian window (σ = 4) and bilinear spatial interpolation into the
block's 4 cells, L2-Hys normalisation (clip 0.2); a 64 × 128 window (7 × 15 blocks, 3780
values, blocks and cells ordered x-major as OpenCV).  ``tests/test_inference_detect.py`` checks
it against OpenCV 4's own descriptor when that is importable.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numba
import numpy as np

import openhmr.numba_threads  # noqa: F401  (before any parallel call; see the module)

ASSETS = Path(__file__).resolve().parent / "assets"
CELL, BINS = 8, 9
WINDOW = (128, 64)  # height, width in pixels
WINDOW_BLOCKS = (WINDOW[0] // CELL - 1, WINDOW[1] // CELL - 1)  # 15 x 7


@cache
def people_svm() -> tuple[np.ndarray, float]:
    """The bundled linear SVM: weights (7, 15, 36) indexed [block x, block y, value], bias."""
    coefficients = np.load(ASSETS / "hog_people_svm.npy").astype(np.float32)
    weights = coefficients[:-1].reshape(WINDOW_BLOCKS[1], WINDOW_BLOCKS[0], 4 * BINS)
    return weights, float(coefficients[-1])


@cache
def _block_weights() -> np.ndarray:
    """(2, 2, 8, 8, 4): for the block quadrant (qy, qx), pixel (py, px) inside it, the weight
    it gives each of the block's 4 cells (x-major order), Gaussian window included."""
    side = 2 * CELL
    coordinate = np.arange(side)
    gauss_1d = (coordinate - side * 0.5) ** 2
    gauss = np.exp(-(gauss_1d[:, None] + gauss_1d[None, :]) / (2 * 4.0**2))  # 16 x 16
    cell = (coordinate + 0.5) / CELL - 0.5  # position in cell units
    low = np.floor(cell).astype(int)
    frac = cell - low
    share = np.zeros((side, 2))  # per coordinate: weight to cell 0 and cell 1
    for c in (0, 1):
        share[:, c] = np.where(low == c, 1 - frac, 0) + np.where(low + 1 == c, frac, 0)
    # cell (cx, cy) stored at index cx * 2 + cy
    weights = np.einsum("yx,yb,xa->yxab", gauss, share, share).reshape(side, side, 4)
    return weights.reshape(2, CELL, 2, CELL, 4).transpose(0, 2, 1, 3, 4).astype(np.float32)


def gradient_histograms(image: np.ndarray) -> np.ndarray:
    """Per-pixel orientation votes: uint8 image (H, W, 3) or (H, W) → (H, W, 9) float32."""
    image = np.ascontiguousarray(image if image.ndim == 3 else image[..., None], np.uint8)
    height, width = image.shape[:2]
    one = np.ones((1, 1, 1), np.float32)
    votes = np.zeros((height, width, 1, BINS), np.float32)
    _cell_votes(image, _SQRT_LUT, one, 1, votes)
    return votes[:, :, 0]


def block_descriptors(image: np.ndarray) -> np.ndarray:
    """Normalised 16 × 16 block histograms at stride 8: (H/8 − 1, W/8 − 1, 36) float32, block
    (by, bx) covering pixels [8·by, 8·by + 16) × [8·bx, 8·bx + 16)."""
    image = np.ascontiguousarray(image if image.ndim == 3 else image[..., None], np.uint8)
    cells_y, cells_x = image.shape[0] // CELL, image.shape[1] // CELL
    weights = _block_weights().transpose(2, 3, 0, 1, 4).reshape(CELL, CELL, 16)
    # per cell tile: its votes as quadrant (qy, qx) of a block, into that block's cell c
    per_quadrant = np.zeros((cells_y, cells_x, 16, BINS), np.float32)
    _cell_votes(image, _SQRT_LUT, np.ascontiguousarray(weights), CELL, per_quadrant)
    per_quadrant = per_quadrant.reshape(cells_y, cells_x, 2, 2, 4 * BINS)
    # quadrant (qy, qx) of the block at (by, bx) is the cell tile (by + qy, bx + qx)
    blocks = (
        per_quadrant[:-1, :-1, 0, 0]
        + per_quadrant[:-1, 1:, 0, 1]
        + per_quadrant[1:, :-1, 1, 0]
        + per_quadrant[1:, 1:, 1, 1]
    )  # By x Bx x 36 (cell-major, x-major cells)
    norm = np.sqrt((blocks * blocks).sum(-1, keepdims=True)) + 0.1 * blocks.shape[-1]
    blocks = np.minimum(blocks / norm, 0.2)
    return blocks / (np.sqrt((blocks * blocks).sum(-1, keepdims=True)) + 1e-3)


_SQRT_LUT = np.sqrt(np.arange(256, dtype=np.float32))


@numba.njit(cache=True, parallel=True)
def _cell_votes(image, lut, weights, tile, out):
    """OpenCV's computeGradient (reflect-101 borders; per pixel the colour channel with the
    largest gradient; magnitude split linearly between the two nearest of 9 unsigned bins),
    accumulated per `tile` × `tile` pixel tile: out[ty, tx, k, bin] += weights[py, px, k] · vote
    for pixel (py, px) of the tile.  Tiles beyond the last full one are ignored."""
    height, width, channels = image.shape
    tiles_y, tiles_x, slots, bins = out.shape
    for ty in numba.prange(tiles_y):
        for py in range(tile):
            i = ty * tile + py
            up = i - 1 if i > 0 else min(1, height - 1)
            down = i + 1 if i < height - 1 else max(height - 2, 0)
            for j in range(tiles_x * tile):
                left = j - 1 if j > 0 else min(1, width - 1)
                right = j + 1 if j < width - 1 else max(width - 2, 0)
                best_dx = best_dy = np.float32(0.0)
                best = np.float32(-1.0)
                for c in range(channels):
                    dx = lut[image[i, right, c]] - lut[image[i, left, c]]
                    dy = lut[image[down, j, c]] - lut[image[up, j, c]]
                    energy = dx * dx + dy * dy
                    if energy > best:
                        best, best_dx, best_dy = energy, dx, dy
                magnitude = np.sqrt(best)
                angle = np.arctan2(best_dy, best_dx)
                if angle < 0:
                    angle += np.pi
                if angle >= np.pi:
                    angle -= np.pi
                position = angle * (bins / np.pi) - 0.5
                low = int(np.floor(position))
                share = position - low
                high_vote = magnitude * share
                low_vote = magnitude - high_vote
                low_bin, high_bin = low % bins, (low + 1) % bins
                tx, px = j // tile, j % tile
                for k in range(slots):
                    w = weights[py, px, k]
                    out[ty, tx, k, low_bin] += w * low_vote
                    out[ty, tx, k, high_bin] += w * high_vote


def window_descriptor(blocks: np.ndarray) -> np.ndarray:
    """(15, 7, 36) blocks of one 64 × 128 window → the 3780-vector in OpenCV's order."""
    return blocks.transpose(1, 0, 2).reshape(-1)


def window_scores(image: np.ndarray) -> np.ndarray:
    """SVM score of every 64 × 128 window at stride 8: (H/8 − 15, W/8 − 7); window (i, j) has
    its top-left corner at pixel (8·j, 8·i) (x, y)."""
    weights, bias = people_svm()
    blocks = block_descriptors(image)
    if blocks.shape[0] < WINDOW_BLOCKS[0] or blocks.shape[1] < WINDOW_BLOCKS[1]:
        return np.zeros((0, 0), np.float32)
    # score(i, j) = Σ over window blocks (y, x) of <weights[x, y], blocks[i + y, j + x]>
    rows, cols = blocks.shape[0] - WINDOW_BLOCKS[0] + 1, blocks.shape[1] - WINDOW_BLOCKS[1] + 1
    score = np.full((rows, cols), bias, np.float32)
    per_offset = blocks @ weights.transpose(2, 1, 0).reshape(4 * BINS, -1)  # By x Bx x (15·7)
    per_offset = per_offset.reshape(*blocks.shape[:2], *WINDOW_BLOCKS)
    for y in range(WINDOW_BLOCKS[0]):
        for x in range(WINDOW_BLOCKS[1]):
            score += per_offset[y : y + rows, x : x + cols, y, x]
    return score
