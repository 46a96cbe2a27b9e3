"""Looking again for tracked people the detector missed in a frame.

MultiPose finds one centre for two people when one stands mostly behind the other, so a
stacked person drops out of the detections for many frames (docs/video.md). `Relook` takes the
boxes where the tracker expects its recent tracks (`Tracker.expected_boxes`), keeps those that
no detection covers (Hungarian matching on box IoU), and reads each with MoveNet Thunder (a
single-person network that takes the person nearest its crop's centre). A reading with enough
confident keypoints that is not a person already detected (keypoint similarity to every
detection's keypoints below `SAME_PERSON`) joins the frame's detections, in the expected box.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from openhmr.fit.sources import CROP_MARGIN
from openhmr.inference.detect import Detections
from openhmr.video.track import in_frame, iou, keypoint_similarity, xywh_to_xyxy

MAX_MISSED = 5  # frames a track may have gone unmatched and still be looked for
COVERED_IOU = 0.3  # an expected box matched to a detection this well is not looked at again
MIN_SCORE = 0.3  # a keypoint this confident counts as seen
MIN_KEYPOINTS = 6  # a reading needs this many seen keypoints
SAME_PERSON = 0.5  # keypoint similarity (OKS, σ 0.1) above which a reading is a detection's
OKS_SIGMA = 0.1


class Relook:
    """callable(image, found, expected) -> found with the people found again appended.
    MoveNet Thunder loads at the first box to read (a clip where no track goes missing
    never loads it)."""

    def __init__(self) -> None:
        self.thunder = None

    def __call__(self, image: np.ndarray, found: Detections, expected: np.ndarray) -> Detections:
        """image (H, W, 3) RGB uint8; found: the frame's detections (boxes x, y, w, h);
        expected (M, 4) x0, y0, x1, y1: where the tracker expects its recent tracks."""
        height, width = image.shape[:2]
        candidates = uncovered(expected, found.boxes, width, height)
        if not len(candidates):
            return found
        if self.thunder is None:
            from openhmr.posenet import MoveNet

            self.thunder = MoveNet.pretrained("thunder")
        readings = self.thunder.keypoints(image, candidates, margin=CROP_MARGIN)
        keep = [
            i
            for i, reading in enumerate(readings)
            if (reading[:, 2] >= MIN_SCORE).sum() >= MIN_KEYPOINTS
            and not same_person(reading, found)
        ]
        if not keep:
            return found
        readings = readings[keep]
        keypoints = found.keypoints
        if keypoints is None:
            keypoints = np.zeros((len(found), 17, 3))
        return Detections(
            np.concatenate([found.boxes, candidates[keep]]),
            np.concatenate([found.scores, readings[..., 2].mean(1)]),
            np.concatenate([keypoints, readings]),
        )


def uncovered(expected: np.ndarray, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """The expected boxes (M, 4 x0, y0, x1, y1) that no detection box (N, 4 x, y, w, h) covers
    (a one-to-one matching on IoU, pairs under `COVERED_IOU` not counting), clipped to the
    frame, as x, y, w, h; boxes left with under 8 px a side dropped."""
    expected = np.asarray(expected, np.float64).reshape(-1, 4)
    free = np.ones(len(expected), dtype=bool)
    if len(expected) and len(boxes):
        overlap = iou(expected[:, None], xywh_to_xyxy(boxes)[None])
        rows, cols = linear_sum_assignment(-overlap)
        free[rows[overlap[rows, cols] >= COVERED_IOU]] = False
    return in_frame(expected[free], width, height)


def same_person(reading: np.ndarray, found: Detections) -> bool:
    """Whether a reading (17, 3) shows a detected person: its seen keypoints' similarity to a
    detection's keypoints (over the keypoints both saw) above `SAME_PERSON`; detections without
    keypoints compare by box (IoU of the reading's keypoint extent above 0.5)."""
    if not len(found):
        return False
    seen = reading[:, 2] >= MIN_SCORE
    points = reading[seen, :2]
    extent = np.concatenate([points.min(0), points.max(0)])
    if found.keypoints is None:
        return bool((iou(extent[None], xywh_to_xyxy(found.boxes)) > 0.5).any())
    area = found.boxes[:, 2] * found.boxes[:, 3]
    for theirs, a in zip(found.keypoints, area, strict=True):
        both = seen & (theirs[:, 2] >= MIN_SCORE)
        if both.sum() < 3:
            continue
        similarity = keypoint_similarity(reading[both, :2], theirs[both, :2], a, OKS_SIGMA)
        if similarity > SAME_PERSON:
            return True
    return False
