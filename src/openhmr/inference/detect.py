"""Person detection behind a small interface: anything callable as
``detector(image (H, W, 3) uint8 RGB) -> Detections`` plugs into `Predictor`.

Shipped: `MoveNetPersonDetector`, Google's MoveNet MultiPose (bundled weights,
`openhmr.posenet`): up to 6 people per image with boxes, scores and 17 COCO keypoints each.
It replaced a HOG pedestrian detector that found 1% of held-out LSP-extended people against
its 92% (docs/demo.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np


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


@dataclass
class MoveNetPersonDetector:
    """MoveNet MultiPose on the photo scaled to `size` px (its longer side), letter-boxed into
    a square (`square`, the default) or on a canvas of the photo's own shape (`square=False`;
    sides rounded up to multiples of 32: `MoveNet.detect`), keeping the people scoring at
    least `threshold` (the network finds at most 6); when nobody does, the best person scoring
    at least `fallback_score` (photos given to the demo usually show someone: on held-out
    LSP-extended this raises the recall from 86% to 92%; empty pictures score 0); None: no
    fallback (video, `openhmr.video.tiles.video_detector`). The network is loaded on first use
    and shared by every detector on the same device (e.g. the web page's copies with other
    thresholds)."""

    size: int = 256
    threshold: float = 0.2
    fallback_score: float | None = 0.05
    device: str = "cpu"
    square: bool = True

    def __call__(self, image: np.ndarray) -> Detections:
        """image: (H, W, 3) uint8 RGB -> `Detections` with keypoints, in the image's pixels."""
        lowest = self.threshold
        if self.fallback_score is not None:
            lowest = min(lowest, self.fallback_score)
        people = _multipose(self.device).detect(
            image, threshold=lowest, size=self.size, square=self.square
        )
        keep = people.scores >= self.threshold
        if not keep.any() and self.fallback_score is not None:
            keep = np.arange(len(people)) < 1  # the best one, already above fallback_score
        return Detections(people.boxes[keep], people.scores[keep], people.keypoints[keep])


@functools.cache
def _multipose(device: str):
    """The pretrained MoveNet MultiPose on `device`, loaded once per process and device."""
    from openhmr.posenet import MoveNet

    return MoveNet.pretrained("multipose").to(device)
