"""tools/keypoint_stats.py: the torso angle and shoulder side on hand-made keypoints."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

spec = importlib.util.spec_from_file_location(
    "keypoint_stats", Path(__file__).parents[1] / "tools" / "keypoint_stats.py"
)
stats = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stats)


def person(head_offset, shoulders_x=(90.0, 110.0)) -> np.ndarray:
    """Hips at (95, 200) and (105, 200); head top at mid-hip + head_offset (image y down)."""
    kp = np.zeros((19, 3))
    kp[:14, 2] = 1.0
    kp[2, :2], kp[3, :2] = (95.0, 200.0), (105.0, 200.0)
    kp[13, :2] = np.array([100.0, 200.0]) + head_offset
    kp[8, :2], kp[9, :2] = (shoulders_x[0], 150.0), (shoulders_x[1], 150.0)
    return kp


def test_torso_angle_of_upright_sideways_and_inverted_people():
    kp = np.stack([person((0, -100)), person((100, 0)), person((-50, 50)), person((0, 100))])
    hidden = person((0, -100))
    hidden[13, 2] = 0.0  # no head top: not counted
    angles = stats.torso_angles(np.concatenate([kp, hidden[None]]))
    np.testing.assert_allclose(angles, [0.0, 90.0, 135.0, 180.0], atol=1e-9)


def test_left_shoulder_side():
    kp = np.stack(
        [person((0, -100)), person((0, -100), (110.0, 90.0)), person((0, -100), (100, 101))]
    )
    # a frontal person-centric label has the right shoulder on the image's left; the last pair is
    # too close to tell
    assert stats.left_shoulder_on_image_left(kp).tolist() == [False, True]


def test_signed_angles_and_errors_wrap_around_the_circle():
    kp = np.stack([person((100, 0)), person((-100, 0)), person((-10, 100))])
    np.testing.assert_allclose(
        stats.signed_torso_angles(kp), [90.0, -90.0, np.degrees(np.arctan(0.1)) - 180]
    )
    np.testing.assert_allclose(
        stats.angle_errors(np.array([170.0, 10.0, -90.0]), np.array([-170.0, -10.0, 90.0])),
        [20.0, 20.0, 180.0],
    )


def test_orientation_table_scores_an_always_upright_prediction():
    truth = np.stack([person((0, -100)), person((0, -100)), person((0, 100)), person((100, 0))])
    truth[1, 13, 2] = 0.0  # head top not visible: left out of every bin
    # an upright prediction in another frame (scaled and shifted crop coordinates)
    upright = (person((0, -100))[None, :, :2].repeat(4, axis=0) - 100.0) / 50.0
    lines = stats.orientation_table(truth, {"const": upright, "exact": truth})
    assert len(lines) == len(stats.BINS)
    assert "   1 persons; const: |angle|   0.0°, error   0.0°; exact: |angle|   0.0°" in lines[0]
    assert "const: |angle|   0.0°, error  90.0°; exact: |angle|  90.0°, error   0.0°" in lines[2]
    assert "const: |angle|   0.0°, error 180.0°; exact: |angle| 180.0°, error   0.0°" in lines[3]
    assert "   0 persons" in lines[1]
