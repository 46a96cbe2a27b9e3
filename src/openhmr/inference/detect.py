"""Person detection behind a small interface: anything callable as
``detector(image (H, W, 3) uint8 RGB) -> Detections`` plugs into `Predictor`.

Shipped: `MoveNetPersonDetector` (the default), Google's MoveNet MultiPose (bundled weights,
`openhmr.posenet`): up to 6 people per image with boxes, scores and 17 COCO keypoints each;
and `HOGPeopleDetector`, Dalal–Triggs HOG + OpenCV's linear pedestrian SVM, which finds
standing, upright, whole people only (docs/demo.md compares them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from openhmr.inference.hog import CELL, WINDOW, window_scores

# The INRIA training windows hold a person ~96 px tall and ~40 px wide in 64 × 128: a window
# shrunk by these factors about its centre is the tight person box.
PERSON_IN_WINDOW = (40 / 64, 96 / 128)  # width, height


@dataclass(frozen=True)
class Detections:
    """boxes (N, 4) float64 = x, y, w, h of each person in image pixels (tight around the
    body), best first; scores (N,) float64, higher is more confident; keypoints: (N, 17, 3)
    x, y pixels, score in COCO order when the detector finds them, else None."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.boxes)


class PersonDetector(Protocol):
    """The detector interface: RGB uint8 image (H, W, 3) -> `Detections`."""

    def __call__(self, image: np.ndarray) -> Detections: ...


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x, y, w, h box (4,) with each of boxes (N, 4) -> (N,)."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[:2] + box[2:], boxes[:, :2] + boxes[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    return inter / (box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter)


def non_maximum_suppression(
    boxes: np.ndarray, scores: np.ndarray, iou: float, min_neighbours: int = 0
) -> np.ndarray:
    """Indices of the kept boxes, best first: greedy NMS at IoU `iou`; a kept box needs at
    least `min_neighbours` suppressed boxes (the same person found at nearby positions/scales,
    which filters isolated false alarms as OpenCV's groupRectangles does)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    alive = np.ones(len(order), bool)
    for rank, index in enumerate(order):
        if not alive[rank]:
            continue
        overlaps = box_iou(boxes[index], boxes[order]) > iou
        overlaps[rank] = False
        neighbours = int((overlaps & alive).sum())
        alive &= ~overlaps
        if neighbours >= min_neighbours:
            keep.append(index)
    return np.array(keep, dtype=np.int64)


@dataclass
class MoveNetPersonDetector:
    """MoveNet MultiPose on the photo letter-boxed to `size` px (its longer side; a multiple
    of 32), keeping the people scoring at least `threshold` (the network finds at most 6).
    The network is loaded on first use."""

    size: int = 256
    threshold: float = 0.2
    device: str = "cpu"
    _net: object = field(default=None, init=False, repr=False)

    def __call__(self, image: np.ndarray) -> Detections:
        """image: (H, W, 3) uint8 RGB -> `Detections` with keypoints, in the image's pixels."""
        if self._net is None:
            from openhmr.posenet import MoveNet

            self._net = MoveNet.pretrained("multipose").to(self.device)
        people = self._net.detect(image, threshold=self.threshold, size=self.size)
        return Detections(people.boxes, people.scores, people.keypoints)


@dataclass(frozen=True)
class HOGPeopleDetector:
    """HOG pedestrian detector.

    max_side: the image is downscaled so its longer side is at most this (speed; people
    smaller than ~128 / max_side of the image height are missed); scale_step: pyramid factor;
    threshold: SVM score a window needs; nms_iou, min_neighbours: grouping; max_people.
    """

    max_side: int = 400
    scale_step: float = 1.2
    threshold: float = 0.3
    nms_iou: float = 0.3
    min_neighbours: int = 1
    max_people: int = 10

    def __call__(self, image: np.ndarray) -> Detections:
        """image: (H, W, 3) uint8 RGB -> `Detections` in the image's pixels."""
        height, width = image.shape[:2]
        base = min(1.0, self.max_side / max(height, width))
        boxes, scores = [], []
        scale = base
        while height * scale >= WINDOW[0] and width * scale >= WINDOW[1]:
            size = (max(round(width * scale), WINDOW[1]), max(round(height * scale), WINDOW[0]))
            level = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            factor = np.array([width / size[0], height / size[1]])
            score = window_scores(level)
            rows, cols = np.nonzero(score > self.threshold)
            if len(rows):
                corner = np.stack([cols, rows], axis=1) * CELL * factor
                extent = np.broadcast_to(np.array(WINDOW[::-1]) * factor, corner.shape)
                boxes.append(np.concatenate([corner, extent], axis=1))
                scores.append(score[rows, cols])
            scale /= self.scale_step
        if not boxes:
            return Detections(np.zeros((0, 4)), np.zeros(0))
        windows, confidence = np.concatenate(boxes), np.concatenate(scores).astype(np.float64)
        keep = non_maximum_suppression(windows, confidence, self.nms_iou, self.min_neighbours)
        keep = keep[: self.max_people]
        return Detections(person_box_from_window(windows[keep]), confidence[keep])


def person_box_from_window(windows: np.ndarray) -> np.ndarray:
    """Detection windows (N, 4) x, y, w, h -> tight person boxes (N, 4) (same centres)."""
    shrink = np.array(PERSON_IN_WINDOW)
    size = windows[:, 2:] * shrink
    return np.concatenate([windows[:, :2] + (windows[:, 2:] - size) / 2, size], axis=1)
