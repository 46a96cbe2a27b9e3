"""Multi-person tracking across frames: association by predicted-box overlap, keypoint
similarity and the 3D body (shape and depth), solved per frame with the Hungarian method.
A track missed for up to `max_missed` frames coasts on its box velocity and can be picked up
again; an unmatched detection starts a new track."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from openhmr.video.synthetic import box_area, box_intersection


@dataclass(frozen=True)
class TrackerConfig:
    """Weights of the three cues (summing to 1), the largest accepted cost, how long a
    missed track survives, keypoint OKS falloff (share of the box's sqrt area), the reference
    for body distances (betas units; relative depth), the velocity smoothing, and the gate: a
    pair with disjoint boxes and keypoint similarity under min_oks never matches."""

    weight_box: float = 0.45  # (1 - IoU of the predicted box)
    weight_keypoints: float = 0.25
    weight_body: float = 0.30
    max_cost: float = 0.8
    max_missed: int = 30
    oks_sigma: float = 0.1
    betas_scale: float = 3.0
    depth_scale: float = 0.15
    velocity_momentum: float = 0.7
    min_oks: float = 0.05


@dataclass
class _Track:
    id: int
    box: np.ndarray  # (4,)
    keypoints: np.ndarray  # (K, 2)
    betas: np.ndarray  # (10,) running mean
    depth: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    missed: int = 0
    hits: int = 1

    def predicted_box(self) -> np.ndarray:
        return self.box + self.velocity * (self.missed + 1)

    def predicted_keypoints(self) -> np.ndarray:
        shift = (self.velocity[:2] + self.velocity[2:]) / 2 * (self.missed + 1)
        return self.keypoints + shift


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes a (..., 4) and b (..., 4), broadcast."""
    inter = box_intersection(a, b)
    return inter / np.maximum(box_area(a) + box_area(b) - inter, 1e-9)


def keypoint_similarity(a: np.ndarray, b: np.ndarray, area: np.ndarray, sigma: float) -> np.ndarray:
    """OKS-style similarity in [0, 1] of keypoints a (..., K, 2) and b (..., K, 2) for objects
    of `area` (...) pixels²: mean over keypoints of exp(-d² / (2 σ² area))."""
    d2 = ((a - b) ** 2).sum(-1)
    return np.exp(-d2 / (2 * sigma**2 * np.maximum(area, 1.0))[..., None]).mean(-1)


class Tracker:
    """Feed frames in order with `update`; each call returns the track id per detection."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[_Track] = []
        self.next_id = 0

    def costs(
        self, boxes: np.ndarray, keypoints: np.ndarray, betas: np.ndarray, depth: np.ndarray
    ) -> np.ndarray:
        """(T, N) association cost of live tracks against N detections: boxes (N, 4),
        keypoints (N, K, 2), betas (N, 10), depth (N,)."""
        c = self.config
        if not self.tracks or len(boxes) == 0:
            return np.zeros((len(self.tracks), len(boxes)))
        pred_box = np.stack([t.predicted_box() for t in self.tracks])[:, None]  # T x 1 x 4
        pred_kp = np.stack([t.predicted_keypoints() for t in self.tracks])[:, None]
        track_betas = np.stack([t.betas for t in self.tracks])[:, None]
        track_depth = np.array([t.depth for t in self.tracks])[:, None]
        box_cost = 1.0 - iou(pred_box, boxes[None])
        oks = keypoint_similarity(pred_kp, keypoints[None], box_area(boxes)[None], c.oks_sigma)
        shape = np.linalg.norm(track_betas - betas[None], axis=-1) / c.betas_scale
        depth_rel = np.abs(track_depth - depth[None]) / np.maximum(track_depth, 1e-6)
        body = np.clip(0.5 * shape + 0.5 * depth_rel / c.depth_scale, 0.0, 1.0)
        cost = c.weight_box * box_cost + c.weight_keypoints * (1.0 - oks) + c.weight_body * body
        apart = (box_cost >= 1.0) & (oks < c.min_oks)  # no overlap, keypoints far: never match
        return np.where(apart, np.inf, cost)

    def update(
        self, boxes: np.ndarray, keypoints: np.ndarray, betas: np.ndarray, depth: np.ndarray
    ) -> np.ndarray:
        """Associate one frame's N detections; returns (N,) int track ids."""
        c = self.config
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        keypoints = np.asarray(keypoints, dtype=np.float64)[..., :2]
        ids = np.full(len(boxes), -1, dtype=np.int64)
        cost = self.costs(boxes, keypoints, betas, depth)
        matched_tracks = set()
        if cost.size:
            rows, cols = linear_sum_assignment(np.minimum(cost, 1e6))
            for r, k in zip(rows, cols, strict=True):
                if cost[r, k] <= c.max_cost:
                    self._refresh(self.tracks[r], boxes[k], keypoints[k], betas[k], depth[k])
                    ids[k] = self.tracks[r].id
                    matched_tracks.add(r)
        for r, track in enumerate(self.tracks):
            if r not in matched_tracks:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= c.max_missed]
        for k in np.flatnonzero(ids < 0):
            track = _Track(
                self.next_id, boxes[k], keypoints[k], np.array(betas[k]), float(depth[k])
            )
            self.tracks.append(track)
            ids[k] = track.id
            self.next_id += 1
        return ids

    def _refresh(self, track: _Track, box, keypoints, betas, depth) -> None:
        m = self.config.velocity_momentum
        step = (box - track.box) / (track.missed + 1)
        track.velocity = m * track.velocity + (1 - m) * step if track.hits > 1 else step
        track.box, track.keypoints = box, keypoints
        track.betas = track.betas + (betas - track.betas) / (track.hits + 1)
        track.depth = float(depth)
        track.missed = 0
        track.hits += 1


def track_frames(frames, config: TrackerConfig | None = None) -> list[np.ndarray]:
    """Track ids for a whole clip: frames is a list of objects with boxes (N, 4), keypoints
    (N, K, 2|3), betas (N, 10) and transl (N, 3) (depth = transl z); returns (N,) ids each."""
    tracker = Tracker(config)
    return [
        tracker.update(f.boxes, f.keypoints, f.betas, np.asarray(f.transl)[:, 2]) for f in frames
    ]
