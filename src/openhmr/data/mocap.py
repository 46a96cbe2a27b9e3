"""Unpaired mocap poses for the adversarial prior: clips converted to SMPL (the retargeting is
`openhmr.data.retarget`'s; docs/mocap.md has the derivation), resampled, near-duplicates
dropped, gathered into pose sets.

Pose sets (`PoseSet`, `.npz`): ``poses`` (N, 72) float32 axis-angle (root first), optional
``betas`` (N, 10), ``source`` (N,) index into ``sources`` (file names), ``meta`` (JSON string).
`load_pose_set` also reads AMASS-style `.npz` (``poses`` (N, 156) SMPL-H or (N, 72), z-up).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openhmr.checks import check_number
from openhmr.data.bvh import BvhMotion, read_bvh
from openhmr.data.retarget import axis_angle_to_matrix, bvh_to_smpl, matrix_to_axis_angle
from openhmr.data.retarget import heading_rotation as heading_rotation  # kept importable here
from openhmr.data.retarget import rest_joints as rest_joints  # kept importable here
from openhmr.data.retarget import swing_rotation as swing_rotation  # kept importable here
from openhmr.data.skeletons import SkeletonMap, resolve_skeleton, skeleton_from_spec
from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path, read_npz

POSE_SET_FORMAT = "openhmr-pose-set"
DEFAULT_FPS = 10.0
DEFAULT_MIN_CHANGE_DEG = 5.0
# AMASS stores bodies in a z-up world; this turns z-up into SMPL's y-up (-90° about x)
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


# --- sampling ---------------------------------------------------------------------------------


def subsample_indices(num_frames: int, frame_time: float, fps: float | None) -> np.ndarray:
    """Frame indices (K,) resampling a clip of `num_frames` at 1/frame_time fps to about `fps`
    (nearest frames); all frames when fps is None or not below the clip's rate."""
    if fps is None or fps <= 0 or fps >= 1.0 / frame_time:
        return np.arange(num_frames)
    times = np.arange(0.0, num_frames * frame_time, 1.0 / fps)
    indices = np.unique(np.round(times / frame_time).astype(np.int64))
    return indices[indices < num_frames]


def select_frames(motion: BvhMotion, indices: np.ndarray) -> BvhMotion:
    """The clip restricted to `indices` (K,); frame_time stays the source's."""
    return dataclasses.replace(
        motion, rotations=motion.rotations[indices], translations=motion.translations[indices]
    )


def distinct_pose_indices(poses: np.ndarray, min_change_deg: float) -> np.ndarray:
    """Indices (K,) of poses to keep, dropping near-duplicates: walking in order, a pose is
    kept when some non-root joint's local rotation differs from the last kept pose's by more
    than min_change_deg.  poses: (N, 24, 3) axis-angle.  Loops over kept poses only."""
    count = poses.shape[0]
    if count == 0 or min_change_deg <= 0:
        return np.arange(count)
    rotations = axis_angle_to_matrix(poses[:, 1:])  # N x 23 x 3 x 3
    cos_limit = np.cos(np.deg2rad(min_change_deg))
    keep, last, start, window = [0], 0, 1, 64
    while start < count:
        stop = min(start + window, count)
        # cos of each joint's relative angle to the last kept pose; N' x 23
        cos = ((rotations[last] * rotations[start:stop]).sum(axis=(-2, -1)) - 1) / 2
        moved = np.flatnonzero(cos.min(axis=1) < cos_limit)
        if moved.size:
            last = start + int(moved[0])
            keep.append(last)
            start = last + 1
        else:
            start = stop
    return np.array(keep, dtype=np.int64)


@dataclass(frozen=True)
class SmplMotion:
    """A converted clip. poses: (K, 24, 3) axis-angle; frames: (K,) source frame indices;
    fps: rate of the kept frames; skeleton: map name; source_frames: frames in the file."""

    poses: np.ndarray
    frames: np.ndarray
    fps: float
    skeleton: str
    source: str
    source_frames: int


def load_bvh(
    path: str | os.PathLike, skeleton: str | os.PathLike | SkeletonMap = "auto"
) -> BvhMotion:
    """Read a `.bvh`/`.bvh.gz` file, checking that `skeleton` ("auto", a built-in name, a map
    file or a SkeletonMap) fits it, so that `bvh_to_smpl(motion, skeleton)` will succeed."""
    motion = read_bvh(path)
    resolve_skeleton(skeleton, motion.skeleton.names, str(path))
    return motion


def convert_bvh(
    path: str | os.PathLike,
    skeleton: str | os.PathLike | SkeletonMap = "auto",
    fps: float | None = DEFAULT_FPS,
    template_joints: np.ndarray | None = None,
) -> SmplMotion:
    """Read a `.bvh`/`.bvh.gz` file and convert it to SMPL poses, resampled to about `fps`
    (None: every frame)."""
    motion = read_bvh(path)
    skeleton_map = resolve_skeleton(skeleton, motion.skeleton.names, str(path))
    indices = subsample_indices(motion.num_frames, motion.frame_time, fps)
    poses = bvh_to_smpl(select_frames(motion, indices), skeleton_map, template_joints)
    rate = motion.fps if fps is None or len(indices) == motion.num_frames else fps
    return SmplMotion(poses, indices, float(rate), skeleton_map.name, str(path), motion.num_frames)


# --- pose sets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoseSet:
    """Unpaired SMPL poses. poses: (N, 72) float32 axis-angle, root first (y-up world);
    source: (N,) int index into sources (file names); betas: (N, 10) float32 or None;
    meta: provenance (skeletons, fps, counts)."""

    poses: np.ndarray
    source: np.ndarray
    sources: tuple[str, ...]
    betas: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.poses.shape[0])


def _to_smpl72(poses: np.ndarray, source: str) -> np.ndarray:
    """(N, 72) SMPL pose from SMPL (72), SMPL-H (156: 22 body joints + hands) or SMPL-X (165)
    axis-angle; SMPL's hand joints are zero when the source has finger joints instead."""
    if poses.ndim != 2 or poses.shape[1] not in (66, 72, 156, 165):
        raise OpenHMRError(
            f"{source}: 'poses' must be (N, 72), (N, 156) or (N, 165) axis-angle, got {poses.shape}"
        )
    if poses.shape[1] == 72:
        return poses.astype(np.float32)
    out = np.zeros((poses.shape[0], 72), dtype=np.float32)
    out[:, :66] = poses[:, :66]
    return out


def _rotate_root(poses: np.ndarray, world: np.ndarray) -> np.ndarray:
    """Poses (N, 72) with the root re-expressed in another world: R_root' = world · R_root."""
    out = poses.copy()
    out[:, :3] = matrix_to_axis_angle(world @ axis_angle_to_matrix(poses[:, :3]))
    return out


def _betas(data: Mapping[str, np.ndarray], count: int, source: str) -> np.ndarray | None:
    if "betas" not in data:
        return None
    betas = np.asarray(data["betas"], dtype=np.float32)
    if betas.ndim == 1:
        betas = np.broadcast_to(betas, (count, betas.shape[0]))
    if betas.ndim != 2 or betas.shape[0] != count or betas.shape[1] < 10:
        raise OpenHMRError(
            f"{source}: 'betas' must be (≥10,) or (N, ≥10) for N = {count}, got {betas.shape}"
        )
    return np.ascontiguousarray(betas[:, :10])


def load_pose_set(path: str | os.PathLike, up: str = "auto") -> PoseSet:
    """Read a pose set: ours (`openhmr mocap` output) or an AMASS-style `.npz` (``poses``
    (N, 156/72), ``betas`` (16,)/(10,), ``mocap_framerate``).  up: the file's up axis, "auto"
    = y for ours, z for AMASS; z-up roots are turned into SMPL's y-up world."""
    path = Path(path)
    data = read_npz(path, "pose set")
    if "poses" not in data:
        raise OpenHMRError(f"{path}: expected a 'poses' array, found {sorted(data)}")
    poses = _to_smpl72(np.asarray(data["poses"]), str(path))
    ours = "meta" in data and "source" in data and "sources" in data
    if ours:
        meta = json.loads(str(data["meta"]))
        source = np.asarray(data["source"], dtype=np.int32)
        sources = tuple(str(s) for s in data["sources"])
    else:
        rate = data.get("mocap_framerate", data.get("mocap_frame_rate"))
        meta = {"format": "amass", "fps": None if rate is None else float(rate)}
        source = np.zeros(len(poses), dtype=np.int32)
        sources = (path.name,)
    if source.shape != (len(poses),) or (len(poses) and source.max() >= len(sources)):
        raise OpenHMRError(f"{path}: 'source' must be (N,) indices into 'sources'")
    if up == "auto":
        up = "y" if ours else "z"
    if up == "z":
        poses = _rotate_root(poses, Z_UP_TO_Y_UP)
    elif up != "y":
        raise OpenHMRError(f"up: expected 'auto', 'y' or 'z', got {up!r}")
    return PoseSet(poses, source, sources, _betas(data, len(poses), str(path)), meta)


def save_pose_set(path: str | os.PathLike, pose_set: PoseSet) -> None:
    """Write a pose set `.npz` atomically (no partial file on error)."""
    arrays: dict[str, np.ndarray] = {
        "poses": np.asarray(pose_set.poses, dtype=np.float32),
        "source": np.asarray(pose_set.source, dtype=np.int32),
        "sources": np.array(pose_set.sources, dtype=str),
        "meta": np.array(json.dumps(dict(pose_set.meta), sort_keys=True)),
    }
    if pose_set.betas is not None:
        arrays["betas"] = np.asarray(pose_set.betas, dtype=np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


# --- building a pose set from many files ------------------------------------------------------

MOCAP_SUFFIXES = (".bvh", ".bvh.gz", ".npz")


def _is_mocap_file(path: Path) -> bool:
    return path.name.lower().endswith(MOCAP_SUFFIXES)


def collect_mocap_files(inputs: Iterable[str | os.PathLike]) -> list[tuple[Path, bool]]:
    """(file, named) for every input: a named file as is, a folder's `.bvh`, `.bvh.gz` and
    `.npz` files recursively (sorted).  named=True: the user named that file."""
    files: list[tuple[Path, bool]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.is_file() and _is_mocap_file(p))
            files += [(p, False) for p in found]
        elif item.is_file():
            files.append((item, True))
        else:
            raise OpenHMRError(f"{item}: no such file or folder")
    return files


@dataclass(frozen=True)
class _Converted:
    poses: np.ndarray  # K x 72 float32
    betas: np.ndarray | None  # K x 10
    skeleton: str
    frames_in: int


def _convert_npz(path: Path, fps: float | None) -> _Converted:
    pose_set = load_pose_set(path)
    rate = pose_set.meta.get("fps") if pose_set.meta.get("format") == "amass" else None
    keep = (
        np.arange(len(pose_set))
        if rate is None
        else subsample_indices(len(pose_set), 1.0 / rate, fps)
    )
    betas = None if pose_set.betas is None else pose_set.betas[keep]
    return _Converted(pose_set.poses[keep], betas, str(pose_set.meta.get("format")), len(pose_set))


def _convert_file(
    path: Path,
    fps: float | None,
    skeleton: str | os.PathLike | SkeletonMap,
    template_joints: np.ndarray | None,
) -> _Converted:
    try:
        if path.name.lower().endswith(".npz"):
            return _convert_npz(path, fps)
        motion = convert_bvh(path, skeleton, fps, template_joints)
    except (ValueError, IndexError, KeyError) as err:  # a malformed file, not a bad argument
        raise OpenHMRError(f"{path}: cannot convert ({type(err).__name__}: {err})") from None
    poses = motion.poses.reshape(-1, 72).astype(np.float32)
    return _Converted(poses, None, motion.skeleton, motion.source_frames)


def build_pose_set(
    inputs: Iterable[str | os.PathLike],
    fps: float | None = DEFAULT_FPS,
    skeleton: str | os.PathLike | SkeletonMap = "auto",
    min_change_deg: float = DEFAULT_MIN_CHANGE_DEG,
    progress: bool = False,
    warn: Callable[[str], None] | None = None,
    template_joints: np.ndarray | None = None,
) -> PoseSet:
    """Convert BVH and pose-set `.npz` files (or folders of them) into one PoseSet.

    Each file is resampled to about `fps` and near-duplicate poses (no non-root joint moving
    more than min_change_deg from the last kept pose) are dropped.  A bad file that was named
    raises OpenHMRError; a bad file found in a folder is reported through `warn` and skipped.
    Betas are kept only when every file has them.  template_joints: optional (24, 3) T-pose
    joints aligning BVH limbs (default: the built-in SMPL template)."""
    started = time.perf_counter()
    skeleton = skeleton_from_spec(skeleton)  # a bad spec is one error, not one per file
    if fps is not None:
        check_number("fps", fps, above=0)
    check_number("min_change_deg", min_change_deg, minimum=0)
    files = collect_mocap_files(inputs)
    if not files:
        raise OpenHMRError("no .bvh, .bvh.gz or .npz files in the inputs")
    warn = warn or (lambda message: print(message, file=sys.stderr))
    iterator: Iterable[tuple[Path, bool]] = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="mocap", unit="file", file=sys.stderr)
    close = getattr(iterator, "close", lambda: None)  # the bar ends its line before an error
    poses, betas, source, sources, skipped = [], [], [], [], []
    skeletons: dict[str, int] = {}
    frames_in = frames_converted = 0
    for path, named in iterator:
        try:
            converted = _convert_file(path, fps, skeleton, template_joints)
        except OpenHMRError as err:
            if named:
                close()
                raise
            skipped.append(str(path))
            warn(f"skipping {err}")
            continue
        keep = distinct_pose_indices(converted.poses.reshape(-1, 24, 3), min_change_deg)
        poses.append(converted.poses[keep])
        betas.append(None if converted.betas is None else converted.betas[keep])
        source.append(np.full(len(keep), len(sources), dtype=np.int32))
        sources.append(str(path))
        skeletons[converted.skeleton] = skeletons.get(converted.skeleton, 0) + 1
        frames_in += converted.frames_in
        frames_converted += len(converted.poses)
    if not poses or sum(len(p) for p in poses) == 0:
        raise OpenHMRError(f"no poses converted from {len(files)} files ({len(skipped)} bad)")
    has_betas = all(b is not None for b in betas)
    meta = {
        "format": POSE_SET_FORMAT,
        "version": 1,
        "up": "y",
        "fps": fps,
        "min_change_deg": min_change_deg,
        "skeletons": skeletons,
        "files": len(sources),
        "skipped": skipped,
        "frames_in": frames_in,
        "frames_resampled": frames_converted,
        "poses": int(sum(len(p) for p in poses)),
        "betas": has_betas,
        "template": "smpl" if template_joints is None else "custom",
        "seconds": round(time.perf_counter() - started, 2),
    }
    return PoseSet(
        poses=np.concatenate(poses),
        source=np.concatenate(source),
        sources=tuple(sources),
        betas=np.concatenate(betas) if has_betas else None,
        meta=meta,
    )
