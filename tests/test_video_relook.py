"""Looking again for tracked people the detector missed (`openhmr.video.relook`): which
expected boxes count as uncovered, when a reading is a detected person, and, on a real frame
(the bundled photo twice side by side), that a person dropped from the detections comes back
in their box while the person still detected is not added twice."""

from __future__ import annotations

import numpy as np
import pytest

from openhmr.inference.command import EXAMPLE_IMAGE
from openhmr.inference.detect import Detections, MoveNetPersonDetector
from openhmr.inference.predictor import load_image
from openhmr.video.relook import Relook, same_person, uncovered


def test_uncovered_boxes_are_those_no_detection_matches():
    expected = np.array([[0, 0, 100, 200], [300, 0, 400, 200], [620, 10, 700, 90], [5, 5, 9, 9]])
    detections = np.array([[10.0, 10.0, 90.0, 185.0]])  # x, y, w, h: covers the first
    got = uncovered(expected, detections, 640, 360)
    # the second as x, y, w, h; the third clipped to the frame (x to 640); the last too small
    np.testing.assert_allclose(got, [[300, 0, 100, 200], [620, 10, 20, 80]])
    # one detection covers one expected box only (one-to-one), and a poor overlap counts as none
    twins = np.array([[0, 0, 100, 200], [2, 0, 102, 200]])
    assert len(uncovered(twins, detections, 640, 360)) == 1
    far = np.array([[80.0, 150.0, 100.0, 100.0]])  # IoU with the first < 0.3
    assert len(uncovered(expected[:1], far, 640, 360)) == 1
    assert len(uncovered(np.zeros((0, 4)), detections, 640, 360)) == 0


def test_a_reading_is_a_detected_person_by_keypoint_similarity():
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(100, 300, (17, 2)), np.full((17, 1), 0.9)], 1)
    found = Detections(np.array([[100.0, 100.0, 200.0, 200.0]]), np.ones(1), keypoints[None])
    near = keypoints.copy()
    near[:, :2] += rng.normal(0, 2, (17, 2))
    far = keypoints.copy()
    far[:, 0] += 150
    assert same_person(near, found) and not same_person(far, found)
    boxes_only = Detections(found.boxes, found.scores)
    assert same_person(near, boxes_only)  # its keypoints' extent lies in the box
    assert not same_person(near, Detections(np.zeros((0, 4)), np.zeros(0)))


@pytest.fixture(scope="module")
def two_people():
    import cv2

    photo = cv2.resize(load_image(EXAMPLE_IMAGE), (300, 300), interpolation=cv2.INTER_AREA)
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[30:330, 10:310] = photo
    frame[30:330, 330:630] = photo
    return frame


def test_a_missed_person_comes_back_in_their_box(two_people):
    found = MoveNetPersonDetector()(two_people)
    assert len(found) == 2 and found.keypoints is not None
    expected = np.concatenate([found.boxes[:, :2], found.boxes[:, :2] + found.boxes[:, 2:]], 1)
    relook = Relook()
    assert len(relook(two_people, found, expected)) == 2  # both detected: nothing added
    for missed in (0, 1):
        kept = Detections(
            found.boxes[[1 - missed]], found.scores[[1 - missed]], found.keypoints[[1 - missed]]
        )
        again = relook(two_people, kept, expected)
        assert len(again) == 2
        np.testing.assert_allclose(again.boxes[1], found.boxes[missed], atol=1e-6)
        # the reading is the missed person (near their detected keypoints), not the other
        seen = found.keypoints[missed, :, 2] > 0.3
        offset = np.abs(again.keypoints[1, seen, :2] - found.keypoints[missed, seen, :2])
        assert np.median(offset) < 15
        assert again.scores[1] > 0.3
    # an expected box over the one detected person adds nothing (the same person)
    kept = Detections(found.boxes[:1], found.scores[:1], found.keypoints[:1])
    shifted = expected[:1] + np.array([40.0, 0.0, 40.0, 0.0])
    assert len(relook(two_people, kept, np.concatenate([expected[:1], shifted]))) == 1
