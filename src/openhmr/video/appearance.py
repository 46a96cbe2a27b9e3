"""What a person looks like, as the tracker compares it: colour histograms of the body's
torso and thighs, placed by the body's projected keypoints (not the box, which holds the
people behind and in front too).

`appearance(image, keypoints)` -> (N, 2 * BINS**3) histograms: for each person, one RGB
histogram (BINS per channel) of the quadrilateral shoulders-hips and one of hips-knees,
each normalised to sum 1 (all zero when the region is empty or out of the frame).
`similarity(a, b)` is the Bhattacharyya coefficient per region, averaged over the regions
both have: 1 for equal colour distributions, 0 for disjoint ones.
"""

from __future__ import annotations

import cv2
import numpy as np

BINS = 4  # per RGB channel: 64 bins a region
# cocoplus keypoints (19): the corners of each region, in polygon order
REGIONS = (
    (8, 9, 3, 2),  # right shoulder, left shoulder, left hip, right hip: the torso
    (2, 3, 4, 1),  # right hip, left hip, left knee, right knee: the thighs
)
MIN_PIXELS = 20  # a region with fewer pixels in the frame has no histogram


def appearance(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """image (H, W, 3) uint8; keypoints (N, 19, 2|3) cocoplus pixels -> (N, R * BINS³)
    float64, R = len(REGIONS) histograms a person (see the module doc)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    size = BINS**3
    out = np.zeros((len(keypoints), len(REGIONS) * size))
    height, width = image.shape[:2]
    for n, points in enumerate(keypoints[..., :2]):
        for r, corners in enumerate(REGIONS):
            polygon = points[list(corners)]
            if not np.isfinite(polygon).all():
                continue
            x0, y0 = np.floor(polygon.min(0)).astype(int)
            x1, y1 = np.ceil(polygon.max(0)).astype(int) + 1
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(mask, [np.round(polygon - (x0, y0)).astype(np.int32)], 1)
            q = image[y0:y1, x0:x1].astype(np.uint16) * BINS // 256  # the region's pixels only
            codes = (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]
            inside = codes[mask.astype(bool)]
            if len(inside) < MIN_PIXELS:
                continue
            counts = np.bincount(inside, minlength=size)
            out[n, r * size : (r + 1) * size] = counts / len(inside)
    return out


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Histograms a (..., R * BINS³) and b (..., R * BINS³), broadcast -> (...) in [0, 1]:
    the Bhattacharyya coefficient of each region present in both, averaged over those
    regions; NaN where no region is."""
    a = np.asarray(a).reshape(*np.shape(a)[:-1], len(REGIONS), -1)
    b = np.asarray(b).reshape(*np.shape(b)[:-1], len(REGIONS), -1)
    coefficient = np.sqrt(a * b).sum(-1)  # ... x R
    both = (a.sum(-1) > 0) & (b.sum(-1) > 0)
    count = both.sum(-1)
    total = np.where(both, coefficient, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
