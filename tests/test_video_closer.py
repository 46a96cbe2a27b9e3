"""Looking closer (openhmr.video.closer): MultiPose on crops about the people found."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from openhmr.errors import OpenHMRError
from openhmr.inference.command import EXAMPLE_IMAGE
from openhmr.inference.detect import Detections, MoveNetPersonDetector
from openhmr.inference.predictor import load_image
from openhmr.posenet import MoveNet
from openhmr.posenet.movenet import PoseDetections
from openhmr.video.closer import CloserLook, add_new_people


@pytest.fixture(scope="module")
def multipose():
    return MoveNet.pretrained("multipose")


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(load_image(EXAMPLE_IMAGE), (256, 256), interpolation=cv2.INTER_AREA)


def test_a_crop_that_is_the_whole_square_image_reads_as_detect(multipose, photo):
    """The crop about a box covering the whole 256² image at 256 is the image itself, so the
    people found must be `detect`'s (letter-boxing a square at its own size is the identity)."""
    detect = multipose.detect(photo, threshold=0.1, size=256)
    (crop,) = multipose.detect_in_boxes(photo, np.array([[0.0, 0.0, 256.0, 256.0]]), 0.1, 256)
    assert len(detect) >= 1 and len(crop) == len(detect)
    np.testing.assert_allclose(crop.boxes, detect.boxes, atol=1e-4)
    np.testing.assert_allclose(crop.keypoints, detect.keypoints, atol=1e-4)
    np.testing.assert_allclose(crop.scores, detect.scores, atol=1e-6)


def test_crops_map_back_to_the_frame(multipose, photo):
    """The same photo pasted at two places of a frame, read in one batch with a margin: each
    crop's people are the photo's own (read alone) moved by the paste offset."""
    frame = np.full((400, 900, 3), 90, np.uint8)
    places = [(20, 40), (600, 120)]
    for x, y in places:
        frame[y : y + 256, x : x + 256] = photo
    boxes = np.array([[x + 28.0, y + 28.0, 200.0, 200.0] for x, y in places])  # side 256 at 1.28
    found = multipose.detect_in_boxes(frame, boxes, 0.1, 256, margin=1.28)
    (alone,) = multipose.detect_in_boxes(
        photo, np.array([[28.0, 28.0, 200.0, 200.0]]), 0.1, 256, margin=1.28
    )
    assert len(found) == 2
    for people, (x, y) in zip(found, places, strict=True):
        assert len(people) == len(alone) >= 1
        np.testing.assert_allclose(people.boxes[:, :2], alone.boxes[:, :2] + [x, y], atol=1e-3)
        np.testing.assert_allclose(
            people.keypoints[..., :2], alone.keypoints[..., :2] + [x, y], atol=1e-3
        )
    with pytest.raises(OpenHMRError, match="margin must be > 0"):
        multipose.detect_in_boxes(frame, boxes, margin=0)
    with pytest.raises(OpenHMRError, match="finds one person"):
        MoveNet("thunder").detect_in_boxes(frame, boxes)
    assert multipose.detect_in_boxes(frame, np.zeros((0, 4))) == []


def _person(x: float, y: float, score: float = 0.8, spread: float = 60.0, seen: int = 17):
    """A made-up reading: 17 keypoints on a grid from (x, y), `seen` of them confident."""
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(4)), -1).reshape(-1, 2)[:17]
    points = np.concatenate([np.array([x, y]) + grid * spread / 4, np.zeros((17, 1))], 1)
    points[:seen, 2] = score
    box = np.array([x, y, spread, spread * 0.75])
    return box, points


def _detections(*people) -> Detections:
    return Detections(
        np.stack([b for b, _ in people]),
        np.array([p[:, 2].max() for _, p in people]),
        np.stack([p for _, p in people]),
    )


def test_new_people_are_added_once_best_first():
    found = _detections(_person(0, 0))
    same = _person(1, 1, score=0.9)  # the detected person again
    other, better_other = _person(300, 0, score=0.5), _person(302, 2, score=0.7)
    few = _person(600, 0, seen=5)  # under MIN_KEYPOINTS confident keypoints
    cands = _detections(same, other, better_other, few)
    got = add_new_people(found, cands.boxes, cands.scores, cands.keypoints)
    assert len(got) == 2
    np.testing.assert_array_equal(got.boxes[1], better_other[0])  # the best of the twins
    got, index = add_new_people(found, cands.boxes, cands.scores, cands.keypoints, with_index=True)
    assert index.tolist() == [2]


class _Fake:
    """Stands in for MultiPose: the people each crop holds, keyed by the crop box's x."""

    def __init__(self, by_x: dict[float, list]):
        self.by_x = by_x
        self.calls: list[np.ndarray] = []

    def detect_in_boxes(self, image, boxes, threshold, size, margin):
        self.calls.append(np.array(boxes))
        out = []
        for box in boxes:
            people = self.by_x.get(float(box[0]), [])
            if not people:
                out.append(PoseDetections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 17, 3))))
                continue
            d = _detections(*people)
            out.append(PoseDetections(d.boxes, d.scores, d.keypoints))
        return out


def test_closer_look_replaces_reads_splits_and_keeps():
    image = np.zeros((360, 900, 3), np.uint8)
    front, back = _person(100, 50, score=0.9), _person(130, 60, score=0.6, spread=50)
    alone = _person(400, 50)
    merged = _person(110, 40, spread=80)  # a box over the pair: keypoints of neither
    missed = _person(700, 50)
    # detections: the pair as one box, the lone person, someone the crop does not find
    found = _detections(merged, alone, missed)
    fake = _Fake({110.0: [front, back], 400.0: [_person(401, 51, score=0.95)], 700.0: []})
    look = CloserLook(every=2, network=fake)
    got = look(image, found, np.zeros((0, 4)), frame=0)
    # the pair's box gives way to the two people; the lone person is read again, closer; the
    # person the crop missed stays
    assert len(got) == 4
    xs = sorted(float(b[0]) for b in got.boxes)
    assert xs == [100.0, 130.0, 401.0, 700.0]
    # between looks, only the tracks no detection covers are read: here none
    fake.calls.clear()
    assert look(image, found, np.zeros((0, 4)), frame=1) is found and fake.calls == []
    # ... and a track's expected box (x0, y0, x1, y1) no detection covers is read
    expected = np.array([[130.0, 60.0, 180.0, 97.5]])
    fake.by_x[130.0] = [back]
    got = look(image, _detections(front), expected, frame=1)
    assert len(got) == 2 and float(got.boxes[1, 0]) == 130.0
    np.testing.assert_allclose(fake.calls[0], [[130.0, 60.0, 50.0, 37.5]])
    # people whose boxes touch are read every frame
    fake.calls.clear()
    pair = _detections(front, back)
    got = look(image, pair, np.zeros((0, 4)), frame=1)
    np.testing.assert_allclose(fake.calls[0], pair.boxes)
    assert len(got) == 2


def test_two_people_apart_are_found_again_not_twice(multipose):
    """On a frame with the photo twice side by side, small enough for the crops to magnify,
    the closer look finds the same two people as the detector, read again (no one added
    twice, none lost)."""
    small = cv2.resize(load_image(EXAMPLE_IMAGE), (150, 150), interpolation=cv2.INTER_AREA)
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[100:250, 60:210] = small
    frame[120:270, 400:550] = small
    found = MoveNetPersonDetector()(frame)
    assert len(found) == 2
    look = CloserLook(network=multipose)
    assert look.zooms(found.boxes, 640, 360).all()
    got = look(frame, found, np.zeros((0, 4)), frame=0)
    assert len(got) == 2
    order = np.argsort(got.boxes[:, 0])
    np.testing.assert_allclose(got.boxes[order, 0], np.sort(found.boxes[:, 0]), atol=15)


def test_crops_are_read_only_where_they_magnify():
    look = CloserLook()  # 224 px crops, 1.25 times the box, against 384 px on the frame
    boxes = np.array([[0, 0, 60, 150], [0, 0, 100, 250], [0, 0, 40, 120.0]])
    # at 640 x 360 the frame pass shows a person at 0.6; the crop at 224 / (1.25 h)
    assert look.zooms(boxes, 640, 360).tolist() == [True, False, True]
    assert look.zooms(boxes, 1920, 1080).tolist() == [True, True, True]


def test_crowded_boxes_are_those_touching_another():
    from openhmr.video.closer import crowded

    boxes = np.array([[0, 0, 10, 10], [9, 9, 5, 5], [100, 0, 10, 10], [110, 0, 5, 5.0]])
    # the first two overlap; the last two only share an edge
    assert crowded(boxes).tolist() == [True, True, False, False]
    assert crowded(np.zeros((0, 4))).tolist() == []


def test_the_pipeline_default_is_the_looks():
    from openhmr.video.closer import CLOSER_EVERY
    from openhmr.video.pipeline import CLOSER

    assert CLOSER == CLOSER_EVERY == CloserLook().every
