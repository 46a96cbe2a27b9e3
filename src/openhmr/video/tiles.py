"""A second detection pass on overlapping tiles, for more people than the detector returns at
once (MoveNet MultiPose: at most 6 at 256 px) and for people too small at the full frame's
scale.

`TiledDetector(base)` runs `base` on the whole frame; when it returns `max_people` or more, or
the frame's longer side is at least `tile_from_px`, it runs again on a grid of overlapping
tiles (about square, `overlap` shared), maps the tiles' boxes and keypoints back, and merges
everything by non-maximum suppression (IoU above `iou`, or a box lying mostly inside a
higher-scoring one: a person cut by a tile's edge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from openhmr.inference.detect import Detections, PersonDetector


def tile_grid(width: int, height: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles (x0, y0, x1, y1) covering the frame, each about a square of the
    frame's shorter side, at least two along the longer side."""
    side = min(width, height)
    longer = max(width, height)
    count = max(2, math.ceil((longer - side * overlap) / (side * (1 - overlap))))
    step = (longer - side) / (count - 1)
    starts = [round(i * step) for i in range(count)]
    if width >= height:
        return [(x, 0, x + side, height) for x in starts]
    return [(0, y, width, y + side) for y in starts]


def merge(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray | None, iou: float, inside: float
) -> Detections:
    """Greedy NMS over x, y, w, h boxes (N, 4): best score first, a box is dropped when its IoU
    with a kept one exceeds `iou` or more than `inside` of its area lies within a kept one."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    for i in order:
        if keep:
            k = np.array(keep)
            w = np.clip(np.minimum(x1[i], x1[k]) - np.maximum(x0[i], x0[k]), 0, None)
            h = np.clip(np.minimum(y1[i], y1[k]) - np.maximum(y0[i], y0[k]), 0, None)
            inter = w * h
            overlap = inter / (area[i] + area[k] - inter)
            if (overlap > iou).any() or (inter / max(area[i], 1e-9) > inside).any():
                continue
        keep.append(int(i))
    keep_idx = np.array(keep, dtype=np.int64)
    return Detections(
        boxes[keep_idx], scores[keep_idx], None if keypoints is None else keypoints[keep_idx]
    )


@dataclass
class TiledDetector:
    """See the module docstring. base: any `PersonDetector`."""

    base: PersonDetector
    max_people: int = 6
    tile_from_px: int = 1000
    overlap: float = 0.25
    iou: float = 0.5
    inside: float = 0.7

    def __call__(self, image: np.ndarray) -> Detections:
        full = self.base(image)
        height, width = image.shape[:2]
        if len(full) < self.max_people and max(width, height) < self.tile_from_px:
            return full
        parts = [full]
        for x0, y0, x1, y1 in tile_grid(width, height, self.overlap):
            found = self.base(np.ascontiguousarray(image[y0:y1, x0:x1]))
            if not len(found):
                continue
            boxes = found.boxes + np.array([x0, y0, 0, 0])
            keypoints = None
            if found.keypoints is not None:
                keypoints = found.keypoints + np.array([x0, y0, 0])
            parts.append(Detections(boxes, found.scores, keypoints))
        with_keypoints = all(p.keypoints is not None for p in parts)
        return merge(
            np.concatenate([p.boxes for p in parts]).astype(np.float64),
            np.concatenate([p.scores for p in parts]).astype(np.float64),
            np.concatenate([p.keypoints for p in parts]) if with_keypoints else None,
            self.iou,
            self.inside,
        )
