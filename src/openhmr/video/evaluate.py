"""Smoothing measured against exact truth on synthetic sequences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from openhmr.body import BodyModel
from openhmr.video.metrics import acceleration_error, mpjpe
from openhmr.video.smooth import TrackSeries
from openhmr.video.synthetic import SyntheticSequence


@dataclass(frozen=True)
class MotionMetrics:
    """Root-relative 3D joints against truth over the same frames (each track's frames with a
    detection of its majority person): mpjpe in mm, accel in mm/frame² (over triples of
    consecutive such frames), for the per-frame (raw) and the smoothed output; frames counted."""

    mpjpe_raw: float
    mpjpe_smooth: float
    accel_raw: float
    accel_smooth: float
    frames: int


def body_joints(body: BodyModel, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(T, 24, 3) axis-angle, (T, 10) -> (T, 24, 3) joints (float64, model frame)."""
    with torch.no_grad():
        out = body(
            torch.as_tensor(pose, dtype=torch.float32), torch.as_tensor(betas, dtype=torch.float32)
        )
    return out.joints.double().numpy()


def motion_metrics(
    body: BodyModel,
    sequence: SyntheticSequence,
    raw: list[TrackSeries],
    smooth: list[TrackSeries],
) -> MotionMetrics:
    """Compare raw and smoothed tracks (same order, same frames) with the truth joints."""
    sums = np.zeros(4)
    counts = np.zeros(2)
    for r, s in zip(raw, smooth, strict=True):
        person = r.majority_truth()
        keep = r.observed & (r.truth == person)
        if person < 0 or keep.sum() < 3:
            continue
        frames = r.frames[keep]
        truth = sequence.joints[person, frames]
        raw_joints = body_joints(body, r.pose[keep], r.betas[keep])
        smooth_joints = body_joints(body, s.pose[keep], s.betas[keep])
        # rotate to camera axes as the truth is: the pose's root already is; joints are in the
        # body model frame rotated by the root, so only translation differs (root-relative)
        n = int(keep.sum())
        sums[0] += 1000 * mpjpe(raw_joints, truth) * n
        sums[1] += 1000 * mpjpe(smooth_joints, truth) * n
        counts[0] += n
        index = np.flatnonzero(keep)
        triples = np.flatnonzero((index[2:] - index[:-2]) == 2)  # three consecutive frames
        if len(triples):
            windows = triples[:, None] + np.arange(3)  # W x 3 indices into kept rows
            for slot, joints in ((2, raw_joints), (3, smooth_joints)):
                sums[slot] += (
                    1000
                    * len(triples)
                    * np.mean([acceleration_error(joints[w], truth[w]) for w in windows])
                )
            counts[1] += len(triples)
    return MotionMetrics(
        sums[0] / counts[0], sums[1] / counts[0], sums[2] / counts[1], sums[3] / counts[1],
        int(counts[0]),
    )  # fmt: skip
