"""Tracking and smoothing measured against exact truth on synthetic sequences: with the
simulated estimator (`motion_metrics`) or with the real predictor on rendered frames
(`score_tracked`, after `match_truth` has said which true person each detection shows)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from openhmr.body import BodyModel
from openhmr.errors import OpenHMRError
from openhmr.video.metrics import TrackingMetrics, acceleration_error, mpjpe, tracking_metrics
from openhmr.video.smooth import TrackSeries
from openhmr.video.synthetic import FrameEstimates, SyntheticSequence, box_area, box_intersection
from openhmr.video.track import iou, keypoint_similarity

MIN_MATCH_IOU = 0.25  # a detection shows a person only if its box overlaps theirs this much
KEEP_MATCH_IOU = 0.5  # with track ids: a person keeps last frame's track while boxes overlap so
FILLED_MATCH_IOU = 0.5  # a filled frame shows the track's person if the boxes overlap so much
TORSO = [2, 3, 8, 9]  # cocoplus hips and shoulders


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


def match_truth(
    sequence: SyntheticSequence,
    frame: int,
    boxes: np.ndarray,
    keypoints: np.ndarray,
    people: np.ndarray | None = None,
) -> np.ndarray:
    """(N,) the true person each of a frame's N detections shows (−1: nobody).

    boxes: (N, 4) x0, y0, x1, y1 pixels; keypoints: (N, K, 2|3) the body's projected
    keypoints (the sequence's keypoint set, or the boxes alone decide). The people whose
    true box overlaps the frame are matched one to one (Hungarian) by the mean of box IoU
    and keypoint similarity (OKS-style, σ 0.1 of the true box's sqrt area); a pair whose
    IoU is under MIN_MATCH_IOU never matches. people: the candidates (default: everyone)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    width, height = sequence.size
    truth_boxes = sequence.boxes[:, frame]  # P x 4
    in_view = np.flatnonzero(box_intersection(truth_boxes, np.array([0, 0, width, height])) > 0)
    if people is not None:
        in_view = np.intersect1d(in_view, people)
    found = np.full(len(boxes), -1, dtype=np.int64)
    if not len(boxes) or not len(in_view):
        return found
    overlap = iou(boxes[:, None], truth_boxes[None, in_view])  # N x P'
    truth_kp = sequence.keypoints[in_view, frame]  # P' x K x 2
    keypoints = np.asarray(keypoints, dtype=np.float64)
    similarity = overlap
    if keypoints.ndim == 3 and keypoints.shape[1] == truth_kp.shape[1]:
        area = box_area(truth_boxes[in_view])[None]
        oks = keypoint_similarity(keypoints[:, None, :, :2], truth_kp[None], area, 0.1)
        similarity = (overlap + oks) / 2
    similarity = np.where(overlap >= MIN_MATCH_IOU, similarity, -1.0)  # gated pairs last
    rows, cols = linear_sum_assignment(-similarity)
    for k, p in zip(rows, cols, strict=True):
        if overlap[k, p] >= MIN_MATCH_IOU:
            found[k] = in_view[p]
    return found


def with_truth(sequence: SyntheticSequence, estimates, ids=None) -> list[FrameEstimates]:
    """Per-frame estimates (objects with boxes (N, 4), keypoints (N, K, 3), pose, betas,
    transl, e.g. `openhmr.video.pipeline.FrameDetections`) with `match_truth`'s person each.

    ids: per frame (N,) track ids, or None (each frame on its own). With ids the match is
    CLEAR MOT's (Bernardin and Stiefelhagen, 2008): a person whose last matched track
    has a detection whose box still overlaps theirs by IoU ≥ `KEEP_MATCH_IOU` keeps it, and
    only the rest are matched afresh. Two people in nearly the same box (one right behind the
    other) otherwise trade detections from frame to frame on small keypoint differences, and
    a tracker that follows each of them steadily would be charged with switches."""
    out = []
    holds: dict[int, int] = {}  # person -> their track id when last matched
    for f, e in enumerate(estimates):
        boxes = np.asarray(e.boxes, dtype=np.float64).reshape(-1, 4)
        keypoints = np.asarray(e.keypoints)
        truth = np.full(len(boxes), -1, dtype=np.int64)
        if ids is not None and holds:
            where = {int(t): k for k, t in enumerate(ids[f])}
            for person, track in holds.items():
                k = where.get(track)
                if k is not None and iou(boxes[k], sequence.boxes[person, f]) >= KEEP_MATCH_IOU:
                    truth[k] = person
        rest = np.flatnonzero(truth < 0)
        free = np.setdiff1d(np.arange(sequence.boxes.shape[0]), truth[truth >= 0])
        if len(rest):
            truth[rest] = match_truth(sequence, f, boxes[rest], keypoints[rest], people=free)
        if ids is not None:
            holds.update((int(p), int(t)) for p, t in zip(truth, ids[f], strict=True) if p >= 0)
        out.append(FrameEstimates(boxes, e.keypoints, e.pose, e.betas, e.transl, truth))
    return out


@dataclass(frozen=True)
class TrackedScore:
    """The real pipeline's output on a rendered sequence against the truth.

    tracking: over the detections in tracks the pipeline writes (≥ min_frames); motion: those
    tracks per frame against smoothed; detected: (P,) share of each person's visible frames
    with a detection showing them (before tracking; NaN if never visible); unmatched:
    detections showing nobody; tracks: tracks written; match_iou: mean box IoU of the matched
    detections with their person's true box; output_coverage: (P,) share of each person's
    visible frames that a written track shows them in: their detections, and the frames the
    smoother filled between two of them where the filled box overlaps their true box by IoU
    ≥ FILLED_MATCH_IOU (`filled_frames`)."""

    tracking: TrackingMetrics
    motion: MotionMetrics
    detected: np.ndarray
    unmatched: int
    tracks: int
    match_iou: float
    output_coverage: np.ndarray | None = None


def score_tracked(
    body: BodyModel,
    sequence: SyntheticSequence,
    estimates: list[FrameEstimates],
    ids: list[np.ndarray],
    sigma: float = 2.0,
    min_frames: int = 5,
    visible: np.ndarray | None = None,
) -> TrackedScore:
    """Score the pipeline's per-frame estimates (`with_truth`) and track ids as it smooths and
    writes them (`openhmr.video.pipeline.smoothed_tracks`). body: the model the predictor's
    θ, β drive (its joints are compared with the truth's, root-relative); visible: (P, F) the
    person-frames coverage and recall count (default the sequence's; for rendered frames
    `RenderedSequence.visible`, judged by pixels)."""
    from openhmr.video.pipeline import smoothed_tracks

    visible = sequence.visible if visible is None else np.asarray(visible, dtype=bool)
    if visible.shape != sequence.visible.shape:
        raise OpenHMRError(
            f"visible: expected {sequence.visible.shape} (people, frames), got {visible.shape}"
        )

    pairs = smoothed_tracks(estimates, ids, sigma, min_frames)
    kept = np.array([raw.id for raw, _ in pairs], dtype=np.int64)
    written = [np.where(np.isin(i, kept), e.truth, -1) for e, i in zip(estimates, ids, strict=True)]
    tracking = tracking_metrics(written, ids, visible)
    motion = motion_metrics(body, sequence, [r for r, _ in pairs], [s for _, s in pairs])
    hit = detected_frames(estimates, visible.shape)
    overlaps = []
    for f, e in enumerate(estimates):
        matched = e.truth >= 0
        if matched.any():
            overlaps.append(iou(e.boxes[matched], sequence.boxes[e.truth[matched], f]))
    seen = visible.sum(1)
    detected = np.where(seen > 0, (hit & visible).sum(1) / np.maximum(seen, 1), np.nan)
    unmatched = sum(int((e.truth < 0).sum()) for e in estimates)
    match_iou = float(np.concatenate(overlaps).mean()) if overlaps else float("nan")
    in_tracks = [dataclasses.replace(e, truth=w) for e, w in zip(estimates, written, strict=True)]
    shown = detected_frames(in_tracks, visible.shape)
    shown |= filled_frames(sequence, pairs, visible.shape)
    output = np.where(seen > 0, (shown & visible).sum(1) / np.maximum(seen, 1), np.nan)
    return TrackedScore(tracking, motion, detected, unmatched, len(pairs), match_iou, output)


def filled_frames(
    sequence: SyntheticSequence,
    pairs: list[tuple[TrackSeries, TrackSeries]],
    shape: tuple[int, int],
) -> np.ndarray:
    """(P, F) bool: the frames written tracks filled (no detection there: the smoother's value
    from the neighbouring ones) whose box overlaps the true box of the track's majority
    person by IoU ≥ FILLED_MATCH_IOU. pairs: (per-frame, smoothed) series, `smoothed_tracks`;
    boxes x0, y0, x1, y1 as the sequence's."""
    shown = np.zeros(shape, dtype=bool)
    for raw, smooth in pairs:
        person = raw.majority_truth()
        gaps = ~raw.observed
        if person < 0 or not gaps.any():
            continue
        frames = smooth.frames[gaps]
        overlap = iou(smooth.boxes[gaps], sequence.boxes[person, frames])
        shown[person, frames[overlap >= FILLED_MATCH_IOU]] = True
    return shown


def detected_frames(estimates: list[FrameEstimates], shape: tuple[int, int]) -> np.ndarray:
    """(P, F) bool: frames with a detection that `match_truth` gave to the person."""
    hit = np.zeros(shape, dtype=bool)
    for f, e in enumerate(estimates):
        matched = e.truth >= 0
        hit[e.truth[matched], f] = True
    return hit


def stacked(sequence: SyntheticSequence, within: float = 0.2) -> np.ndarray:
    """(P, F) bool: another person in view has their torso centre (the mean of the true hips
    and shoulders, cocoplus keypoints) within `within` × the person's true box height of the
    person's: one stands mostly in front of the other. MultiPose finds one centre per person,
    and for such a pair it often finds one (docs/video.md)."""
    if sequence.keypoints.shape[2] != 19:
        raise OpenHMRError(
            f"stacked: expected the 19 cocoplus keypoints, got {sequence.keypoints.shape[2]}"
        )
    width, height = sequence.size
    in_view = box_intersection(sequence.boxes, np.array([0, 0, width, height])) > 0  # P x F
    centre = sequence.keypoints[:, :, TORSO].mean(axis=2)  # P x F x 2
    tall = sequence.boxes[..., 3] - sequence.boxes[..., 1]  # P x F
    apart = np.linalg.norm(centre[:, None] - centre[None], axis=-1)  # P x P x F
    near = (apart < within * tall[:, None]) & in_view[None]
    near[np.arange(len(near)), np.arange(len(near))] = False
    return near.any(axis=1)
