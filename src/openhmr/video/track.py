"""Multi-person tracking across frames: association by predicted-box overlap, keypoint
similarity, the 3D body (shape and depth) and, when frames are given, appearance (colour
histograms of torso and thighs: `openhmr.video.appearance`), solved per frame with the
Hungarian method.
A track missed for up to `max_missed` frames coasts on its box velocity and can be picked up
again; an unmatched detection starts a new track."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from openhmr.video.appearance import similarity
from openhmr.video.synthetic import box_area, box_intersection


@dataclass(frozen=True)
class TrackerConfig:
    """Weights of the three cues (summing to 1), the largest accepted cost, how long a
    missed track survives, keypoint OKS falloff (share of the box's sqrt area), the reference
    for body distances (betas units; relative depth), the velocity smoothing, and the gate: a
    pair with disjoint boxes and keypoint similarity under min_oks never matches.
    weight_appearance: the share of the cost given to 1 − appearance similarity when both
    the track and the detection have one (the other cues share the rest); a track's
    appearance is a running mean (appearance_momentum) of its detections that no other
    detection overlaps by IoU over appearance_overlap (whose histograms mix two people)."""

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
    weight_appearance: float = 0.3
    appearance_momentum: float = 0.8
    appearance_overlap: float = 0.2


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
    appearance: np.ndarray | None = None  # (D,) running mean of clean detections' histograms

    def predicted_box(self) -> np.ndarray:
        return self.box + self.velocity * (self.missed + 1)

    def predicted_keypoints(self) -> np.ndarray:
        shift = (self.velocity[:2] + self.velocity[2:]) / 2 * (self.missed + 1)
        return self.keypoints + shift


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x, y, w, h -> x0, y0, x1, y1."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def in_frame(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes (M, 4) x0, y0, x1, y1 (a track's expected place) -> the part of each inside the
    frame, x, y, w, h; boxes left with under 8 px a side dropped."""
    low = np.clip(boxes[:, :2], 0, [width, height])
    high = np.clip(boxes[:, 2:], 0, [width, height])
    keep = ((high - low) >= 8).all(axis=1)
    return np.concatenate([low, high - low], axis=1)[keep]


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
        self,
        boxes: np.ndarray,
        keypoints: np.ndarray,
        betas: np.ndarray,
        depth: np.ndarray,
        looks: np.ndarray | None = None,
    ) -> np.ndarray:
        """(T, N) association cost of live tracks against N detections: boxes (N, 4),
        keypoints (N, K, 2), betas (N, 10), depth (N,), looks (N, D) appearance histograms
        or None."""
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
        if looks is not None and c.weight_appearance > 0:
            known = [t.appearance is not None for t in self.tracks]
            if any(known):
                track_looks = np.stack(
                    [np.zeros(looks.shape[1]) if t.appearance is None else t.appearance
                     for t in self.tracks]
                )  # fmt: skip
                alike = similarity(track_looks[:, None], looks[None])  # T x N, NaN: unknown
                mixed = (1 - c.weight_appearance) * cost + c.weight_appearance * (1 - alike)
                cost = np.where(np.isfinite(alike), mixed, cost)
        apart = (box_cost >= 1.0) & (oks < c.min_oks)  # no overlap, keypoints far: never match
        return np.where(apart, np.inf, cost)

    def update(
        self,
        boxes: np.ndarray,
        keypoints: np.ndarray,
        betas: np.ndarray,
        depth: np.ndarray,
        looks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Associate one frame's N detections (looks: (N, D) appearance histograms,
        `openhmr.video.appearance.appearance`, or None); returns (N,) int track ids."""
        c = self.config
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        keypoints = np.asarray(keypoints, dtype=np.float64)[..., :2]
        ids = np.full(len(boxes), -1, dtype=np.int64)
        clean = self._clean(boxes, looks)
        cost = self.costs(boxes, keypoints, betas, depth, looks)
        matched_tracks = set()
        if cost.size:
            rows, cols = linear_sum_assignment(np.minimum(cost, 1e6))
            for r, k in zip(rows, cols, strict=True):
                if cost[r, k] <= c.max_cost:
                    self._refresh(self.tracks[r], boxes[k], keypoints[k], betas[k], depth[k])
                    if clean[k]:
                        self._look(self.tracks[r], looks[k])
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
            if clean[k]:
                self._look(track, looks[k])
            self.tracks.append(track)
            ids[k] = track.id
            self.next_id += 1
        return ids

    def track(self, frame) -> np.ndarray:
        """`update` with one frame's object: boxes (N, 4), keypoints (N, K, 2|3), betas (N, 10),
        transl (N, 3) (depth = transl z) and optionally appearance (N, D) (e.g.
        `openhmr.video.pipeline.FrameDetections`); returns (N,) int track ids."""
        depth = np.asarray(frame.transl)[:, 2]
        looks = getattr(frame, "appearance", None)
        return self.update(frame.boxes, frame.keypoints, frame.betas, depth, looks)

    def carried_boxes(self) -> np.ndarray:
        """(M, 4) x0, y0, x1, y1: where each track matched in the last frame should be now
        (its box moved by its velocity), for a frame that skips the detector."""
        boxes = [t.predicted_box() for t in self.tracks if t.missed == 0]
        return np.stack(boxes) if boxes else np.zeros((0, 4))

    def expected_boxes(self, max_missed: int) -> np.ndarray:
        """(M, 4) x0, y0, x1, y1: where each track seen at least twice and unmatched for at
        most `max_missed` frames should be now (its box moved by its velocity)."""
        boxes = [t.predicted_box() for t in self.tracks if t.hits >= 2 and t.missed <= max_missed]
        return np.stack(boxes) if boxes else np.zeros((0, 4))

    def _clean(self, boxes: np.ndarray, looks: np.ndarray | None) -> np.ndarray:
        """(N,) bool: the detection has an appearance that shows one person (no other box
        overlaps it by IoU over appearance_overlap)."""
        if looks is None or not len(boxes):
            return np.zeros(len(boxes), dtype=bool)
        overlap = iou(boxes[:, None], boxes[None])
        np.fill_diagonal(overlap, 0.0)
        alone = (overlap <= self.config.appearance_overlap).all(1)
        return alone & (np.asarray(looks).sum(1) > 0)

    def _look(self, track: _Track, look: np.ndarray) -> None:
        m = self.config.appearance_momentum
        track.appearance = look.copy() if track.appearance is None else (
            m * track.appearance + (1 - m) * look
        )  # fmt: skip

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
    """Track ids for a whole clip: frames is a list of the objects `Tracker.track` takes;
    returns (N,) ids each."""
    tracker = Tracker(config)
    return [tracker.track(f) for f in frames]
