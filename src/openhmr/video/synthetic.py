"""Synthetic multi-person sequences with exact per-frame truth, and a simulated per-frame
estimator on them.

People walk along straight paths that cross in the image (the nearer one occludes the
farther), seen by a fixed pinhole camera at the origin (camera axes: x right, y down, z
forward). Body poses come from CMU clips through openhmr's mocap importer when a folder of
`.bvh`/`.bvh.gz` files is given, otherwise from the built-in joint-limit sampler, keyframes
joined by cubic splines. Truth per frame: boxes, identities, visibility, 3D joints.

`simulate_estimates` stands in for the per-frame predictor (boxes, keypoints, θ, β, camera
with independent noise, missed detections under occlusion) so tracking and smoothing can be
measured against exact truth without rendering; the noise levels are arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation

from openhmr.body import BodyModel
from openhmr.errors import OpenHMRError
from openhmr.synth.poses import sample_poses

UPRIGHT = Rotation.from_rotvec([math.pi, 0.0, 0.0])  # SMPL's y up, +z facing -> camera axes


@dataclass(frozen=True)
class SyntheticSequence:
    """Exact truth for P people over F frames.

    pose: (P, F, 24, 3) axis-angle in camera axes (root first); betas: (P, 10);
    transl: (P, F, 3) metres; joints: (P, F, 24, 3) camera-space joints; keypoints: (P, F, K, 2)
    pixels; boxes: (P, F, 4) x0, y0, x1, y1 pixels; visible: (P, F) bool, the person is in the
    frame and less than `occluded_share` of their box is covered by nearer people;
    occlusion: (P, F) share of the box covered; focal in pixels; size (width, height);
    camera_yaw: (F,) radians the camera has panned (world -> camera turn about y) by each frame.
    """

    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    occlusion: np.ndarray
    focal: float
    size: tuple[int, int]
    fps: float
    pose_source: str
    camera_yaw: np.ndarray | None = None

    @property
    def num_people(self) -> int:
        return int(self.pose.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.pose.shape[1])

    def window(self, start: int, stop: int) -> SyntheticSequence:
        """Frames start..stop − 1 (0 ≤ start < stop ≤ num_frames): the same people and camera,
        at their own walking speed (a short `make_sequence` crosses the frame faster)."""
        if not (isinstance(start, int | np.integer) and isinstance(stop, int | np.integer)) or not (
            0 <= start < stop <= self.num_frames
        ):
            raise OpenHMRError(
                f"sequence window: expected 0 <= start < stop <= {self.num_frames}, got "
                f"{start}, {stop}"
            )
        frames = slice(int(start), int(stop))
        yaw = None if self.camera_yaw is None else self.camera_yaw[frames]
        return replace(
            self, pose=self.pose[:, frames], transl=self.transl[:, frames],
            joints=self.joints[:, frames], keypoints=self.keypoints[:, frames],
            boxes=self.boxes[:, frames], visible=self.visible[:, frames],
            occlusion=self.occlusion[:, frames], camera_yaw=yaw,
        )  # fmt: skip


def _sampler_motion(num_frames: int, rng: np.random.Generator, key_every: int) -> np.ndarray:
    """(F, 24, 3) smooth body motion: sampler keyposes (half amplitude) joined by cubic
    splines in axis-angle components; root left unrotated."""
    keys = max(2, math.ceil(num_frames / key_every) + 1)
    poses = 0.5 * sample_poses(keys, rng).reshape(keys, 72)
    spline = CubicSpline(np.arange(keys) * key_every, poses, axis=0)
    motion = spline(np.arange(num_frames)).reshape(num_frames, 24, 3)
    motion[:, 0] = 0.0
    return motion


def _mocap_motion(
    files: list[Path], num_frames: int, rng: np.random.Generator, fps: float
) -> np.ndarray | None:
    """(F, 24, 3) body motion from a random window of a random CMU clip (root zeroed), or None
    when no clip is long enough."""
    from openhmr.data.mocap import convert_bvh

    for index in rng.permutation(len(files))[:8]:
        motion = convert_bvh(files[index], fps=fps)
        if len(motion.poses) >= num_frames:
            start = int(rng.integers(0, len(motion.poses) - num_frames + 1))
            poses = np.array(motion.poses[start : start + num_frames], dtype=np.float64)
            poses[:, 0] = 0.0
            return poses
    return None


def mocap_files(folder: str | Path | None) -> list[Path]:
    """Sorted `.bvh`/`.bvh.gz` files under `folder` (none if it is None or absent)."""
    if folder is None or not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).rglob("*") if p.name.endswith((".bvh", ".bvh.gz")))


def _box(points: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """(..., N, 2) -> (..., 4) x0, y0, x1, y1 with `margin` of the size added on each side."""
    low, high = points.min(axis=-2), points.max(axis=-2)
    pad = (high - low) * margin
    return np.concatenate([low - pad, high + pad], axis=-1)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) -> (...) area, zero for empty boxes."""
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        boxes[..., 3] - boxes[..., 1], 0, None
    )


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of boxes a (..., 4) and b (..., 4), broadcast."""
    low = np.maximum(a[..., :2], b[..., :2])
    high = np.minimum(a[..., 2:], b[..., 2:])
    return np.prod(np.clip(high - low, 0, None), axis=-1)


def make_sequence(
    body: BodyModel,
    rng: np.random.Generator,
    num_people: int = 3,
    num_frames: int = 90,
    size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    mocap: list[Path] | None = None,
    occluded_share: float = 0.6,
    camera_pan_deg: float = 0.0,
) -> SyntheticSequence:
    """A sequence of `num_people` (2-4 typical) walking across each other's paths.

    Person p walks at depth 5-9 m from one side of the view to the other, alternating
    directions so paths cross; each faces where they walk. camera_pan_deg: total yaw of a
    slowly panning camera over the clip (0: fixed).
    """
    width, height = size
    focal = 0.9 * width
    frames = np.arange(num_frames)
    motions, sources = [], []
    for _ in range(num_people):
        motion = _mocap_motion(mocap, num_frames, rng, fps) if mocap else None
        sources.append("cmu" if motion is not None else "sampler")
        motions.append(motion if motion is not None else _sampler_motion(num_frames, rng, 15))
    pose = np.stack(motions)  # P x F x 24 x 3
    betas = np.clip(rng.normal(0.0, 1.0, (num_people, 10)), -2.5, 2.5)
    betas[:, 2:] *= 0.3
    transl = np.zeros((num_people, num_frames, 3))
    depths = 5.0 + 4.0 * (rng.permutation(num_people) + rng.uniform(0, 1, num_people)) / num_people
    for p in range(num_people):
        depth = depths[p]
        half_width = 0.45 * width * depth / focal
        direction = 1.0 if p % 2 == 0 else -1.0
        start = -direction * half_width * rng.uniform(0.3, 0.9)
        end = direction * half_width * rng.uniform(0.3, 0.9)
        t = frames / max(num_frames - 1, 1)
        transl[p, :, 0] = start + (end - start) * t
        transl[p, :, 2] = depth + rng.uniform(-1.0, 1.0) * t
        transl[p, :, 1] = 0.3  # hips a little below the camera's height
        heading = np.arctan2(end - start, transl[p, -1, 2] - transl[p, 0, 2])
        # SMPL faces +z; in camera axes (y down) a yaw of `heading` about -y turns it to walk
        turn = Rotation.from_rotvec([0.0, -heading + math.pi, 0.0])
        body_root = Rotation.from_rotvec(pose[p, :, 0])
        pose[p, :, 0] = (turn * UPRIGHT * body_root).as_rotvec()
    yaw = np.deg2rad(camera_pan_deg) * frames / max(num_frames - 1, 1)
    pan = Rotation.from_rotvec(np.outer(yaw, [0.0, 1.0, 0.0]))  # world -> camera per frame
    with torch.no_grad():
        out = body(
            torch.as_tensor(pose.reshape(-1, 24, 3), dtype=torch.float32),
            torch.as_tensor(np.repeat(betas, num_frames, 0), dtype=torch.float32),
        )
    joints_local = out.joints.double().numpy().reshape(num_people, num_frames, -1, 3)
    keypoints_local = out.keypoints.double().numpy().reshape(num_people, num_frames, -1, 3)
    # the camera pans: rotate bodies (root and positions) into each frame's camera
    pan_matrix = pan.as_matrix()  # F x 3 x 3
    root = Rotation.from_rotvec(pose[:, :, 0].reshape(-1, 3))
    pan_all = Rotation.from_matrix(np.tile(pan_matrix, (num_people, 1, 1)))
    pose[:, :, 0] = (pan_all * root).as_rotvec().reshape(num_people, num_frames, 3)
    transl = np.einsum("fij,pfj->pfi", pan_matrix, transl)
    joints = np.einsum("fij,pfkj->pfki", pan_matrix, joints_local) + transl[:, :, None]
    keypoints3d = np.einsum("fij,pfkj->pfki", pan_matrix, keypoints_local) + transl[:, :, None]
    centre = np.array([width / 2, height / 2])
    keypoints = focal * keypoints3d[..., :2] / keypoints3d[..., 2:3] + centre
    boxes = _box(keypoints)
    occlusion = _occlusion(boxes, transl[..., 2])
    inside = box_intersection(boxes, np.array([0, 0, width, height])) / box_area(boxes)
    visible = (occlusion < occluded_share) & (inside > 0.5)
    return SyntheticSequence(
        pose, betas, transl, joints, keypoints, boxes, visible, occlusion, focal, size, fps,
        "+".join(sorted(set(sources))), yaw,
    )  # fmt: skip


def _occlusion(boxes: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(P, F) share of each box covered by the union of nearer people's boxes (upper bound:
    the sum of pairwise overlaps, clipped to 1). boxes (P, F, 4), depth (P, F)."""
    overlap = box_intersection(boxes[:, None], boxes[None, :])  # P x P x F
    nearer = depth[None, :] < depth[:, None]  # [p, q]: q is nearer than p
    covered = (overlap * nearer).sum(axis=1)
    return np.clip(covered / np.maximum(box_area(boxes), 1e-9), 0.0, 1.0)


@dataclass(frozen=True)
class FrameEstimates:
    """Per-frame estimates of N people (one frame). boxes (N, 4); keypoints (N, K, 3) x, y,
    confidence; pose (N, 24, 3) axis-angle in camera axes; betas (N, 10); transl (N, 3);
    truth: (N,) the true person index (for evaluation only; -1 unknown)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    truth: np.ndarray


def simulate_estimates(
    sequence: SyntheticSequence,
    rng: np.random.Generator,
    rotation_noise: float = 0.08,
    keypoint_noise_px: float = 3.0,
    betas_noise: float = 0.3,
    depth_noise: float = 0.05,
    miss_rate: float = 0.03,
) -> list[FrameEstimates]:
    """Per-frame estimates as a per-frame predictor would give them: visible people only (in
    shuffled order), each missed with probability miss_rate; joint rotations perturbed by
    random rotations of ~rotation_noise rad, keypoints by keypoint_noise_px, betas by
    betas_noise, translation depth by depth_noise (relative)."""
    frames = []
    for f in range(sequence.num_frames):
        people = np.flatnonzero(
            sequence.visible[:, f] & (rng.random(sequence.num_people) >= miss_rate)
        )
        people = rng.permutation(people)
        n = len(people)
        noise = Rotation.from_rotvec(rng.normal(0.0, rotation_noise / math.sqrt(3), (n * 24, 3)))
        pose = (noise * Rotation.from_rotvec(sequence.pose[people, f].reshape(-1, 3))).as_rotvec()
        keypoints = sequence.keypoints[people, f] + rng.normal(
            0, keypoint_noise_px, (n, sequence.keypoints.shape[2], 2)
        )
        keypoints = np.concatenate([keypoints, np.ones((*keypoints.shape[:2], 1))], axis=-1)
        scale = 1.0 + rng.normal(0.0, depth_noise, (n, 1))
        transl = sequence.transl[people, f] * scale
        frames.append(
            FrameEstimates(
                _box(keypoints[..., :2]),
                keypoints,
                pose.reshape(n, 24, 3),
                sequence.betas[people] + rng.normal(0.0, betas_noise, (n, 10)),
                transl,
                people,
            )
        )
    return frames
