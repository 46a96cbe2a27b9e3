"""Tracking and motion metrics against exact truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrackingMetrics:
    """switches_per_100: identity switches per 100 frames per person (switches / visible
    person-frames × 100); coverage: (P,) share of each person's visible frames with a tracked
    output (NaN for a person never visible); switches: total count; person_frames: visible
    person-frames."""

    switches_per_100: float
    coverage: np.ndarray
    switches: int
    person_frames: int


def tracking_metrics(
    truth: list[np.ndarray], ids: list[np.ndarray], visible: np.ndarray
) -> TrackingMetrics:
    """truth: per frame (N,) true person index of each detection; ids: per frame (N,) track
    id; visible: (P, F) bool. A switch is a change of a person's track id between consecutive
    frames where they are tracked (a missed frame in between does not reset it)."""
    num_people, num_frames = visible.shape
    last = np.full(num_people, -1)
    switches = 0
    tracked = np.zeros_like(visible)
    for f in range(num_frames):
        for person, track in zip(truth[f], ids[f], strict=True):
            if person < 0:
                continue
            tracked[person, f] = True
            if last[person] >= 0 and last[person] != track:
                switches += 1
            last[person] = track
    person_frames = int(visible.sum())
    seen = visible.sum(1)
    coverage = np.where(seen > 0, (tracked & visible).sum(1) / np.maximum(seen, 1), np.nan)
    return TrackingMetrics(
        100.0 * switches / max(person_frames, 1), coverage, switches, person_frames
    )


def mpjpe(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean per-joint position error (same units as inputs) of root-relative joints (..., J, 3)."""
    pred = pred - pred[..., :1, :]
    truth = truth - truth[..., :1, :]
    return float(np.linalg.norm(pred - truth, axis=-1).mean())


def acceleration_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean norm of the difference of second finite differences (units per frame²) of
    root-relative joints (F, J, 3), F ≥ 3 consecutive frames."""
    pred = pred - pred[:, :1]
    truth = truth - truth[:, :1]
    accel = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]  # noqa: E731
    return float(np.linalg.norm(accel(pred) - accel(truth), axis=-1).mean())
