"""Does a checkpoint read which way a body faces? On a record index with SMPL truth (a synthetic
split), the geodesic error of the predicted global (root) orientation, and PA-MPJPE / MPJPE on
the 14 LSP joints split by whether the root came out within 45° — for each model and for its
mean-pose baseline (the same network, IEF updates zeroed: one fixed orientation for every
image, i.e. chance for the split's yaw spread). docs/default_model.md quotes it.

    python tools/orientation_check.py runs/default_eval/synth/synth.npz \
        src/openhmr/inference/assets/default_model.safetensors \
        synthetic64=runs/default_model_synthetic64/checkpoints/epoch_0005.ckpt
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.errors import OpenHMRError
from openhmr.evaluate import mean_pose_model, predict_index
from openhmr.evaluate.metrics import joint_errors, root_orientation_errors
from openhmr.model import load_checkpoint

WITHIN_DEG = 45.0


@dataclass(frozen=True)
class OrientationScores:
    """root_error_deg (N,) per image; pa_mpjpe / mpjpe (N,) mm per image."""

    root_error_deg: np.ndarray
    pa_mpjpe: np.ndarray
    mpjpe: np.ndarray

    def summary(self) -> str:
        err, ok = self.root_error_deg, self.root_error_deg < WITHIN_DEG
        split = " ".join(
            f"{label} {self.pa_mpjpe[rows].mean():6.1f}" if rows.any() else f"{label}    n/a"
            for label, rows in (("root ok", ok), ("root off", ~ok))
        )
        return (
            f"root error median {np.median(err):4.0f}°, within {WITHIN_DEG:.0f}° "
            f"{100 * ok.mean():3.0f}%, beyond 135° {100 * (err > 135).mean():3.0f}% | "
            f"PA-MPJPE {self.pa_mpjpe.mean():6.1f} ({split}) | MPJPE {self.mpjpe.mean():6.1f}"
        )


def orientation_scores(pred_pose: np.ndarray, pred_joints: np.ndarray, index) -> OrientationScores:
    """pred_pose (N, 24, 3) axis-angle, pred_joints (N, ≥14, 3) metres (LSP order first);
    index: a record index with `pose` (N, 72) and `joints3d` (N, 14, 4)."""
    if index.pose is None or index.joints3d is None:
        raise OpenHMRError("orientation_check needs an index with SMPL poses and 3D joints")
    error = root_orientation_errors(pred_pose, index.pose[:, :3])
    pred = torch.as_tensor(pred_joints[:, :14], dtype=torch.float64)
    true = torch.as_tensor(index.joints3d[:, :, :3], dtype=torch.float64)
    pa = joint_errors(pred, true, "procrustes").mean(-1).numpy() * 1000
    mpjpe = joint_errors(pred, true, "pelvis").mean(-1).numpy() * 1000
    return OrientationScores(error, pa, mpjpe)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", help="a record index .npz with SMPL truth (synthetic)")
    parser.add_argument("models", nargs="+", help="checkpoints, each PATH or NAME=PATH")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    index = load_index(args.index)
    body = load_body_model("open")
    for spec in args.models:
        name, _, path = spec.rpartition("=")
        model = load_checkpoint(path, body_model=body).model
        for label, net in ((name or path, model), ("  its mean pose", mean_pose_model(model))):
            predictions = predict_index(net, index, batch_size=args.batch_size, progress=False)
            scores = orientation_scores(predictions.pose, predictions.keypoints3d, index)
            print(f"{label}: {scores.summary()}")


if __name__ == "__main__":
    main()
