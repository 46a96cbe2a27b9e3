"""How the people of a 2D record index are oriented in their images: the torso's in-plane angle
(mid-hip to head top; 0° = upright) and which side the left shoulder is on. These explain how
strong a constant, upright mean-pose prediction is on a dataset (docs/default_model.md).

    python tools/keypoint_stats.py runs/data/lspet_train.npz runs/data/lspet_val.npz
"""

from __future__ import annotations

import argparse

import numpy as np

from openhmr.data.records import load_index

R_HIP, L_HIP, R_SHOULDER, L_SHOULDER, HEAD_TOP = 2, 3, 8, 9, 13
BINS = ((0, 30), (30, 60), (60, 120), (120, 180.1))


def torso_visible(keypoints: np.ndarray) -> np.ndarray:
    """(N, K, 3) → (N,) bool: both hips and the head top are visible."""
    return keypoints[:, [R_HIP, L_HIP, HEAD_TOP], 2].min(axis=1) > 0


def torso_angles(keypoints: np.ndarray) -> np.ndarray:
    """(N, K, 3) image keypoints (LSP order first) → (M,) |in-plane torso angle| in degrees,
    for the persons where `torso_visible` (0: head straight above the hips)."""
    kp = keypoints[torso_visible(keypoints)]
    up = kp[:, HEAD_TOP, :2] - kp[:, [R_HIP, L_HIP], :2].mean(axis=1)  # image y points down
    return np.abs(np.degrees(np.arctan2(up[:, 0], -up[:, 1])))


def left_shoulder_on_image_left(keypoints: np.ndarray, min_gap_px: float = 3.0) -> np.ndarray:
    """(N, K, 3) → (M,) bool for persons with both shoulders visible and apart by min_gap_px:
    the labelled left shoulder has the smaller x (a back view, or an observer-centric label)."""
    s = keypoints[:, [R_SHOULDER, L_SHOULDER]]
    usable = (s[:, :, 2].min(axis=1) > 0) & (np.abs(s[:, 0, 0] - s[:, 1, 0]) > min_gap_px)
    return s[usable, 1, 0] < s[usable, 0, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("indexes", nargs="+", help="record indexes (.npz) with LSP keypoints")
    args = parser.parse_args()
    keypoints = np.concatenate([load_index(p).keypoints2d for p in args.indexes])
    angles = torso_angles(keypoints)
    print(f"persons: {len(keypoints)}; with hips and head top visible: {len(angles)}")
    for low, high in BINS:
        share = ((angles >= low) & (angles < high)).mean() * 100
        print(f"  torso {low:>3}–{min(high, 180):.0f}° from upright: {share:5.1f}%")
    left = left_shoulder_on_image_left(keypoints[torso_visible(keypoints)][angles < 30])
    print(
        f"upright persons (< 30°) with the left shoulder on the image's left: "
        f"{left.mean() * 100:.1f}% of {len(left)} (back views or observer-centric labels)"
    )


if __name__ == "__main__":
    main()
