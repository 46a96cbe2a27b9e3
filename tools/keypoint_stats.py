"""How the people of a 2D record index are oriented in their images: the torso's in-plane angle
(mid-hip to head top; 0° = upright) and which side the left shoulder is on. These explain how
strong a constant, upright mean-pose prediction is on a dataset (docs/default_model.md).
With --model, also how well a checkpoint reads that orientation from the pixels: per bin of the
true angle, the mean |predicted torso angle| and the mean angle error, for the model and for
its mean-pose baseline.

    python tools/keypoint_stats.py runs/data/lspet_train.npz runs/data/lspet_val.npz
    python tools/keypoint_stats.py runs/data/lspet_val.npz \
        --model runs/default_model_stage3/model_fp16.safetensors
"""

from __future__ import annotations

import argparse

import numpy as np

from openhmr.data.records import load_index

R_HIP, L_HIP, R_SHOULDER, L_SHOULDER, HEAD_TOP = 2, 3, 8, 9, 13
BINS = ((0, 30), (30, 60), (60, 120), (120, 180.1))


def bin_label(low: float, high: float) -> str:
    """'  0–30°' for a bin of `BINS`."""
    return f"{low:>3}–{min(high, 180):.0f}°"


def torso_visible(keypoints: np.ndarray) -> np.ndarray:
    """(N, K, 3) → (N,) bool: both hips and the head top are visible."""
    return keypoints[:, [R_HIP, L_HIP, HEAD_TOP], 2].min(axis=1) > 0


def signed_torso_angles(keypoints: np.ndarray) -> np.ndarray:
    """(N, K, ≥2) keypoints (LSP order first; image y down) → (N,) in-plane torso angle in
    degrees, (−180, 180]: 0 = head straight above the mid-hip, positive = head to the right."""
    up = keypoints[:, HEAD_TOP, :2] - keypoints[:, [R_HIP, L_HIP], :2].mean(axis=1)
    return np.degrees(np.arctan2(up[:, 0], -up[:, 1]))


def torso_angles(keypoints: np.ndarray) -> np.ndarray:
    """(N, K, 3) image keypoints (LSP order first) → (M,) |in-plane torso angle| in degrees,
    for the persons where `torso_visible` (0: head straight above the hips)."""
    return np.abs(signed_torso_angles(keypoints[torso_visible(keypoints)]))


def angle_errors(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(N,), (N,) signed angles in degrees → (N,) absolute difference on the circle, [0, 180]."""
    return np.abs((predicted - truth + 180.0) % 360.0 - 180.0)


def orientation_table(truth: np.ndarray, predicted: dict[str, np.ndarray]) -> list[str]:
    """truth (N, K, 3) keypoints; predicted: name → (N, K', ≥2) keypoints of the same persons
    (any 2D frame related to the image's by translation and positive scale). Lines per `BINS`
    of the true |angle|: persons, and per prediction mean |angle| and mean angle error."""
    visible = torso_visible(truth)
    true = signed_torso_angles(truth[visible])
    lines = []
    for low, high in BINS:
        rows = (np.abs(true) >= low) & (np.abs(true) < high)
        parts = [f"  true {bin_label(low, high)}: {rows.sum():4d} persons"]
        if rows.any():
            for name, keypoints in predicted.items():
                angles = signed_torso_angles(keypoints[visible][rows])
                error = angle_errors(true[rows], angles)
                parts.append(
                    f"{name}: |angle| {np.abs(angles).mean():5.1f}°, error {error.mean():5.1f}°"
                )
        lines.append("; ".join(parts))
    return lines


def left_shoulder_on_image_left(keypoints: np.ndarray, min_gap_px: float = 3.0) -> np.ndarray:
    """(N, K, 3) → (M,) bool for persons with both shoulders visible and apart by min_gap_px:
    the labelled left shoulder has the smaller x (a back view, or an observer-centric label)."""
    s = keypoints[:, [R_SHOULDER, L_SHOULDER]]
    usable = (s[:, :, 2].min(axis=1) > 0) & (np.abs(s[:, 0, 0] - s[:, 1, 0]) > min_gap_px)
    return s[usable, 1, 0] < s[usable, 0, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("indexes", nargs="+", help="record indexes (.npz) with LSP keypoints")
    parser.add_argument(
        "--model",
        help="a checkpoint: also print how its predicted torso angles (and its mean-pose "
        "baseline's) match the truth, on the persons of all indexes",
    )
    args = parser.parse_args()
    indexes = [load_index(p) for p in args.indexes]
    keypoints = np.concatenate([index.keypoints2d for index in indexes])
    angles = torso_angles(keypoints)
    print(f"persons: {len(keypoints)}; with hips and head top visible: {len(angles)}")
    for low, high in BINS:
        share = ((angles >= low) & (angles < high)).mean() * 100
        print(f"  torso {bin_label(low, high)} from upright: {share:5.1f}%")
    left = left_shoulder_on_image_left(keypoints[torso_visible(keypoints)][angles < 30])
    print(
        f"upright persons (< 30°) with the left shoulder on the image's left: "
        f"{left.mean() * 100:.1f}% of {len(left)} (back views or observer-centric labels)"
    )
    if args.model:
        print_predicted_orientation(args.model, indexes, keypoints)


def print_predicted_orientation(model_path: str, indexes: list, keypoints: np.ndarray) -> None:
    """Predict every person of `indexes` (loaded record indexes; `keypoints` their concatenated
    truth) with the checkpoint and its mean-pose baseline."""
    from openhmr.body import load_body_model
    from openhmr.evaluate import mean_pose_model
    from openhmr.evaluate.predict import predict_index
    from openhmr.model import load_checkpoint

    model = load_checkpoint(model_path, body_model=load_body_model("open")).model
    predicted = {}
    for name, net in (("model", model), ("mean pose", mean_pose_model(model))):
        rows = [predict_index(net, index, progress=False).keypoints2d for index in indexes]
        predicted[name] = np.concatenate([np.asarray(r) for r in rows])
    print(f"predicted torso angles ({model_path}):")
    print("\n".join(orientation_table(keypoints, predicted)))


if __name__ == "__main__":
    main()
