"""Per-track series and their temporal smoothing.

Rotations are filtered in the continuous 6D representation (the first two columns of the
rotation matrix) and projected back to rotations by Gram-Schmidt, never as raw axis-angle
(whose components jump at π and are not linear in the rotation). The filter is a zero-lag
Gaussian-weighted local-linear fit over the track's observed frames (offline: video files are
processed whole; steady motion passes unchanged, also at a track's ends), so missed frames in
a track are filled from their neighbours. Translation, boxes and keypoints use the same
filter; a track has one shape, the mean of its per-frame β.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import correlate1d
from scipy.spatial.transform import Rotation


@dataclass(frozen=True)
class TrackSeries:
    """One person's track over its frames first..last (T frames).

    id: track id; frames: (T,) int frame indices; observed: (T,) bool, a detection was
    associated in that frame; pose: (T, 24, 3) axis-angle (camera axes, root first);
    betas: (T, 10); transl: (T, 3); boxes: (T, 4); keypoints: (T, K, 3); truth: (T,) true
    person index per frame (-1: unknown or unobserved). Unobserved rows hold NaN.
    """

    id: int
    frames: np.ndarray
    observed: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray
    truth: np.ndarray
    camera: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def majority_truth(self) -> int:
        """The true person most often associated with this track (-1 if none)."""
        known = self.truth[self.truth >= 0]
        return int(np.bincount(known).argmax()) if len(known) else -1


def collect_tracks(frames, ids: list[np.ndarray]) -> list[TrackSeries]:
    """Per-track series from per-frame estimates (objects with boxes, keypoints, pose, betas,
    transl and optionally truth) and their track ids (`track_frames`)."""
    rows: dict[int, list[tuple[int, int]]] = {}
    for f, frame_ids in enumerate(ids):
        for k, track in enumerate(frame_ids):
            rows.setdefault(int(track), []).append((f, k))
    tracks = []
    for track, items in sorted(rows.items()):
        first, last = items[0][0], items[-1][0]
        t = last - first + 1
        sample = frames[first]
        num_kp = sample.keypoints.shape[1]

        shapes = dict(pose=(24, 3), betas=(10,), transl=(3,), boxes=(4,), keypoints=(num_kp, 3))
        if getattr(sample, "camera", None) is not None:
            shapes["camera"] = (3,)
        series = {name: np.full((t, *shape), np.nan) for name, shape in shapes.items()}
        truth = np.full(t, -1, dtype=np.int64)
        observed = np.zeros(t, dtype=bool)
        for f, k in items:
            frame = frames[f]
            for name, array in series.items():
                array[f - first] = np.asarray(getattr(frame, name))[k]
            truth_k = getattr(frame, "truth", None)
            truth[f - first] = -1 if truth_k is None else int(truth_k[k])
            observed[f - first] = True
        tracks.append(
            TrackSeries(track, np.arange(first, last + 1), observed, truth=truth, **series)
        )
    return tracks


def gaussian_fill(values: np.ndarray, observed: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-lag local-linear Gaussian filter (σ in frames, window ±3σ) of values (T, ...) over
    the observed rows (T,) bool: each row becomes the value at that frame of the line fitted
    by least squares to the observed rows in its window, weighted by exp(-d²/2σ²). A line
    is kept exactly (no lag, also at a track's ends), unobserved rows are filled from their
    neighbours; with a single observed row in a window its value is used, and rows with
    none within the window take the nearest observed row. σ = 0 only fills."""
    flat = values.reshape(len(values), -1)
    weights = observed.astype(np.float64)
    clean = np.where(observed[:, None], flat, 0.0)
    if sigma > 0:
        radius = max(1, round(3 * sigma))
        d = np.arange(-radius, radius + 1, dtype=np.float64)
        kernel = np.exp(-0.5 * (d / sigma) ** 2)
        s0, s1, s2 = (correlate1d(weights, kernel * d**n, mode="constant") for n in range(3))
        t0 = correlate1d(clean, kernel, axis=0, mode="constant")
        t1 = correlate1d(clean, kernel * d, axis=0, mode="constant")
        det = s0 * s2 - s1**2
        linear = det > 1e-9 * np.maximum(s0 * s2, 1e-300)
        safe = np.where(linear, det, 1.0)
        result = np.where(
            linear[:, None],
            (s2[:, None] * t0 - s1[:, None] * t1) / safe[:, None],
            t0 / np.maximum(s0, 1e-12)[:, None],
        )
        denominator = s0
    else:
        result, denominator = clean, weights
    empty = denominator < 1e-9
    if empty.any():
        seen = np.flatnonzero(observed)
        nearest = seen[np.abs(np.flatnonzero(empty)[:, None] - seen[None]).argmin(1)]
        result[empty] = flat[nearest]
    return result.reshape(values.shape)


def rotations_to_6d(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 2) first two columns of the rotation matrix."""
    shape = axis_angle.shape[:-1]
    matrix = Rotation.from_rotvec(axis_angle.reshape(-1, 3)).as_matrix()
    return matrix[..., :2].reshape(*shape, 3, 2)


def rotations_from_6d(six_d: np.ndarray) -> np.ndarray:
    """(..., 3, 2) -> (..., 3) axis-angle, columns orthonormalised by Gram-Schmidt."""
    a, b = six_d[..., 0], six_d[..., 1]
    x = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - (x * b).sum(-1, keepdims=True) * x
    y = b / np.linalg.norm(b, axis=-1, keepdims=True)
    matrix = np.stack([x, y, np.cross(x, y)], axis=-1)
    shape = matrix.shape[:-2]
    return Rotation.from_matrix(matrix.reshape(-1, 3, 3)).as_rotvec().reshape(*shape, 3)


def smooth_track(track: TrackSeries, sigma: float = 2.0) -> TrackSeries:
    """The track filtered (σ frames; 0: gaps filled only), one shape for all its frames."""
    obs = track.observed
    pose = rotations_to_6d(np.where(obs[:, None, None], track.pose, 0.0))
    pose = rotations_from_6d(gaussian_fill(pose, obs, sigma))
    betas = np.broadcast_to(track.betas[obs].mean(0), track.betas.shape).copy()
    return replace(
        track,
        pose=pose,
        betas=betas,
        transl=gaussian_fill(track.transl, obs, sigma),
        boxes=gaussian_fill(track.boxes, obs, sigma),
        keypoints=gaussian_fill(track.keypoints, obs, sigma),
        camera=None if track.camera is None else gaussian_fill(track.camera, obs, sigma),
    )
