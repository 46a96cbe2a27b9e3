"""Person detection for video: MultiPose at a larger input that keeps the frame's shape
(`video_detector`), and a second pass on overlapping tiles for more people than the detector
returns at once (MoveNet MultiPose: at most 6) and for people too small at the full frame's
scale.

`video_detector(base)` moves a `MoveNetPersonDetector` to the video setting (longer side
`VIDEO_INPUT_PX` on a canvas of the frame's shape, threshold `VIDEO_THRESHOLD`, no fallback
to the best candidate) and wraps it in a `TiledDetector`. On rendered 640 x 360 sequences
(people 100-200 px tall) this raised the recall of people standing apart from everyone else
from 0.65 to 0.98 (0.63 to 0.99 on seeds not tuned on), at 1.3 times the detector's time
(docs/video.md). A person mostly behind another is still often missed: MultiPose finds one
centre for the two.

`TiledDetector(base)` runs `base` on the whole frame; when it returns `max_people` or more, or
the frame's longer side is at least `tile_from_px`, it runs again on a grid of overlapping
tiles (about square, `overlap` shared), maps the tiles' boxes and keypoints back, and merges
everything by non-maximum suppression (IoU above `iou`, or a box lying mostly inside a
higher-scoring one from another pass: a person cut by a tile's edge; two people one pass
returned stay apart, also one mostly in front of the other).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from openhmr.inference.detect import Detections, MoveNetPersonDetector, PersonDetector

VIDEO_INPUT_PX = 384  # a 640 x 360 frame at 384 x 216: a person 100 px tall is 60 px there
# 0.1 kept 0.4% more people on rendered seeds 100-102 but found 2 people in 100 empty
# procedural 640 x 360 backgrounds (0.15: none; the image demo's 0.2 with its fallback: 11)
VIDEO_THRESHOLD = 0.15


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
    boxes: np.ndarray,
    scores: np.ndarray,
    keypoints: np.ndarray | None,
    iou: float,
    inside: float,
    passes: np.ndarray | None = None,
) -> Detections:
    """Greedy NMS over x, y, w, h boxes (N, 4): best score first, a box is dropped when its IoU
    with a kept one exceeds `iou` or more than `inside` of its area lies within a kept one from
    another pass. passes: (N,) the pass that found each box (default: each its own), so the
    people one pass found apart (one mostly behind another) are never merged by `inside`."""
    passes = np.arange(len(boxes)) if passes is None else np.asarray(passes)
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
            cut = (inter / max(area[i], 1e-9) > inside) & (passes[k] != passes[i])
            if (overlap > iou).any() or cut.any():
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
            np.concatenate([np.full(len(p), n) for n, p in enumerate(parts)]),
        )


def video_detector(base: PersonDetector, threshold: float | None = None) -> TiledDetector:
    """The detector `demo --track` runs (module docstring): a `MoveNetPersonDetector` base at
    `VIDEO_INPUT_PX` on a canvas of the frame's shape, `threshold` (None: the base's own), no
    fallback, in a `TiledDetector`; another detector is only wrapped."""
    if isinstance(base, MoveNetPersonDetector):
        base = dataclasses.replace(
            base,
            size=VIDEO_INPUT_PX,
            square=False,
            fallback_score=None,
            threshold=base.threshold if threshold is None else threshold,
        )
    return TiledDetector(base)
