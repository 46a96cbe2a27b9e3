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
