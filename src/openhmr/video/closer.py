"""Looking closer: MultiPose again on crops about the people found, for the people behind them.

At a video frame's scale MultiPose finds one centre for two people when one stands mostly
behind the other (docs/video.md): on rendered seeds 200-202 it found 73% of such stacked
person-frames against 93% of people standing apart. In a crop of the pair, at MultiPose's
own input size, the two often come apart. `CloserLook` reads a square crop about

- each detection whose box touches another's (every frame: where people crowd),
- every detection (every `every`-th frame: a person hidden from the start of a clip),
- each box where the tracker expects a recent track that no detection covers (every frame),

all crops in one batch, and only where the crop magnifies (`MIN_ZOOM`: at 224 px, people up
to about 210 px tall in a 640 x 360 frame; the frame pass sees a larger one as well). The
people found there who are none of each other (keypoint similarity, `same_person`) are the
frame's people: a detection one of them is (read again, closer) gives way to it, a detection
whose crop holds two others (a box over a pair) goes, and a detection whose crop shows
nobody stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openhmr.inference.detect import Detections
from openhmr.video.relook import MIN_KEYPOINTS, MIN_SCORE, same_person, uncovered
from openhmr.video.synthetic import box_intersection
from openhmr.video.tiles import VIDEO_INPUT_PX
from openhmr.video.track import xywh_to_xyxy

CLOSER_EVERY = 8  # frames between looks about every detection (crowded ones: each frame)
CLOSER_SIZE = 224  # MultiPose's input side for a crop (256 found no more on seed 200)
CLOSER_MARGIN = 1.25  # crop side: this times the box's longer side
CLOSER_THRESHOLD = 0.15  # person score kept in a crop (the video detector's)
MIN_ZOOM = 1.4  # a crop is read only if it shows the person this much larger than the frame
# pass (`VIDEO_INPUT_PX` on the frame's longer side) did


@dataclass
class CloserLook:
    """callable(image, found, expected, frame) -> the frame's people after the closer look
    (module docstring). replace: False only appends the new people and leaves the detections
    as they are (on seeds 200-202, every box read every frame, max switches 5.09 against 3.52
    with replacing, frame-by-frame scoring; docs/video.md). network: a MultiPose `MoveNet`
    (default: the detector's shared one on the CPU, loaded at the first crop)."""

    every: int = CLOSER_EVERY
    size: int = CLOSER_SIZE
    margin: float = CLOSER_MARGIN
    threshold: float = CLOSER_THRESHOLD
    replace: bool = True
    network: object = field(default=None, repr=False)

    def __call__(
        self, image: np.ndarray, found: Detections, expected: np.ndarray, frame: int
    ) -> Detections:
        """image (H, W, 3) RGB uint8; found: the frame's detections (x, y, w, h); expected
        (M, 4) x0, y0, x1, y1: where the tracker expects its recent tracks; frame: the
        frame's index (crops about detections on every `every`-th)."""
        height, width = image.shape[:2]
        small = self.zooms(found.boxes, width, height)
        chosen = np.flatnonzero(small & (crowded(found.boxes) | (frame % self.every == 0)))
        missed = uncovered(expected, found.boxes, width, height)
        missed = missed[self.zooms(missed, width, height)]
        crops = np.concatenate([found.boxes[chosen], missed])
        if not len(crops):
            return found
        if self.network is None:
            from openhmr.inference.detect import _multipose

            self.network = _multipose("cpu")
        people = self.network.detect_in_boxes(
            image, crops, threshold=self.threshold, size=self.size, margin=self.margin
        )
        boxes = np.concatenate([p.boxes for p in people])
        scores = np.concatenate([p.scores for p in people])
        keypoints = np.concatenate([p.keypoints for p in people])
        if not self.replace or not len(chosen):
            return add_new_people(found, boxes, scores, keypoints)
        crop_of = np.repeat(np.arange(len(people)), [len(p) for p in people])
        pooled, picked = add_new_people(_none(), boxes, scores, keypoints, with_index=True)
        keep = []
        for i in range(len(found)):
            reading = None if found.keypoints is None else found.keypoints[i]
            seen = reading is not None and (reading[:, 2] >= MIN_SCORE).sum() >= 3
            if seen and same_person(reading, pooled):
                continue  # read again, closer
            own = np.flatnonzero(chosen == i)
            if len(own) and (crop_of[picked] == own[0]).sum() >= 2:
                continue  # two others in its crop: a box over a pair
            keep.append(i)
        kept = Detections(
            found.boxes[keep],
            found.scores[keep],
            None if found.keypoints is None else found.keypoints[keep],
        )
        return add_new_people(kept, pooled.boxes, pooled.scores, pooled.keypoints)

    def zooms(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        """(N,) bool: a crop about the box (N, 4 x, y, w, h) shows it at least `MIN_ZOOM`
        times larger than the frame pass did (a person filling the frame's height gains
        nothing from a crop)."""
        frame_scale = VIDEO_INPUT_PX / max(width, height)
        crop_scale = self.size / (self.margin * np.asarray(boxes).reshape(-1, 4)[:, 2:].max(1))
        return crop_scale >= MIN_ZOOM * frame_scale


def crowded(boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: the box (N, 4 x, y, w, h) overlaps another one."""
    corners = xywh_to_xyxy(boxes)
    meet = box_intersection(corners[:, None], corners[None]) > 0
    np.fill_diagonal(meet, False)
    return meet.any(1)


def _none() -> Detections:
    return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 17, 3)))


def add_new_people(
    found: Detections,
    boxes: np.ndarray,
    scores: np.ndarray,
    keypoints: np.ndarray,
    with_index: bool = False,
):
    """found with the candidates (boxes (N, 4) x, y, w, h, scores (N,), keypoints (N, 17, 3))
    appended that have `MIN_KEYPOINTS` keypoints scoring `MIN_SCORE` and are not a person
    already there (`same_person`: found's or an earlier-added candidate's), best score first."""
    kept, added = found, []
    for i in np.argsort(-scores, kind="stable"):
        reading = keypoints[i]
        if (reading[:, 2] >= MIN_SCORE).sum() < MIN_KEYPOINTS or same_person(reading, kept):
            continue
        added.append(int(i))
        old = kept.keypoints if kept.keypoints is not None else np.zeros((len(kept), 17, 3))
        kept = Detections(
            np.concatenate([kept.boxes, boxes[i : i + 1]]),
            np.concatenate([kept.scores, scores[i : i + 1]]),
            np.concatenate([old, keypoints[i : i + 1]]),
        )
    return (kept, np.array(added, dtype=np.int64)) if with_index else kept
