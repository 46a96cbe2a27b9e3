"""Per-track output files: `.npz` (numpy alone reads it) and BVH on the SMPL skeleton."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from openhmr.body import BodyModel
from openhmr.files import write_npz
from openhmr.video.bvh import write_bvh
from openhmr.video.smooth import TrackSeries


def track_arrays(raw: TrackSeries, smooth: TrackSeries, fps: float) -> dict[str, np.ndarray]:
    """The arrays of one track's `.npz` (T frames from its first to its last):
    frame (T,) frame indices; observed (T,) bool, detected in that frame (else filled);
    pose (T, 24, 3) smoothed axis-angle, camera axes; pose_raw (T, 24, 3) per-frame (NaN where
    unobserved); betas (10,) the track's one shape; betas_raw (T, 10); translation (T, 3) and
    translation_raw: the body's translation in the full-image camera (metres); camera (T, 3)
    smoothed weak-perspective crop camera s, tx, ty and camera_raw; bbox (T, 4) x0, y0, x1, y1
    pixels and bbox_raw; keypoints2d (T, 19, 3) and keypoints2d_raw; id; fps."""
    arrays = {
        "id": np.int64(raw.id),
        "fps": np.float64(fps),
        "frame": raw.frames.astype(np.int64),
        "observed": raw.observed.copy(),
        "betas": smooth.betas[0].astype(np.float64),
    }
    for name, key in (
        ("pose", "pose"), ("betas", "betas_raw"), ("transl", "translation"),
        ("camera", "camera"), ("boxes", "bbox"), ("keypoints", "keypoints2d"),
    ):  # fmt: skip
        raw_value = getattr(raw, name)
        if raw_value is None:
            continue
        if key != "betas_raw":
            arrays[key] = np.asarray(getattr(smooth, name), dtype=np.float64)
            arrays[f"{key}_raw"] = np.asarray(raw_value, dtype=np.float64)
        else:
            arrays[key] = np.asarray(raw_value, dtype=np.float64)
    return arrays


def rest_joints(body: BodyModel, betas: np.ndarray) -> np.ndarray:
    """(24, 3) rest joints of shape betas (10,) (model frame, metres)."""
    with torch.no_grad():
        out = body(betas=torch.as_tensor(betas[None], dtype=torch.float32))
    return out.joints[0].double().cpu().numpy()


def write_track_files(
    body: BodyModel, out: Path, stem: str, raw: TrackSeries, smooth: TrackSeries, fps: float
) -> list[Path]:
    """`<stem>_track<id>.npz` and `<stem>_track<id>.bvh` in `out`; returns their paths."""
    npz = out / f"{stem}_track{raw.id}.npz"
    bvh = out / f"{stem}_track{raw.id}.bvh"
    write_npz(npz, track_arrays(raw, smooth, fps))
    write_bvh(bvh, smooth.pose, smooth.transl, rest_joints(body, smooth.betas[0]), fps)
    return [npz, bvh]
