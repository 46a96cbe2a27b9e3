"""BVH motion files (plain or gzip-compressed): parser and forward kinematics.

BVH semantics used here (the common reading, as in Blender and MotionBuilder):

- every joint's OFFSET is its rest position in its parent's frame; "End Site" blocks become
  extra channel-less joints named ``<parent>_end``;
- rotation channels listed left to right compose as R = R_first · R_second · R_third acting on
  column vectors (intrinsic rotations in the listed order), angles in degrees;
- position channels of a joint add to its OFFSET (most files only have them on the root, whose
  offset is usually zero);
- a joint's global transform is parent_global · [R_local | translation], so in the rest pose
  (all channels zero) every global rotation is the identity and OFFSETs are world vectors.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openhmr.errors import OpenHMRError

ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")


@dataclass(frozen=True)
class BvhSkeleton:
    """The hierarchy of a BVH file, joints in file (depth-first) order, parents before children.

    names: J joint names (end sites named ``<parent>_end``); parents: (J,) int, -1 for the root;
    offsets: (J, 3) rest offsets in the parent's frame; channels: per joint, its channel names.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]

    def index(self, name: str) -> int:
        """The index of joint `name`; OpenHMRError if absent."""
        try:
            return self.names.index(name)
        except ValueError:
            raise OpenHMRError(f"BVH skeleton has no joint {name!r}") from None


@dataclass(frozen=True)
class BvhMotion:
    """A parsed BVH clip. rotations: (F, J, 3, 3) local joint rotations; translations: (F, J, 3)
    local joint translations (offset plus position channels); frame_time in seconds."""

    skeleton: BvhSkeleton
    rotations: np.ndarray
    translations: np.ndarray
    frame_time: float
    name: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time


def elementary_rotations(axis: str, degrees: np.ndarray) -> np.ndarray:
    """Rotations about a coordinate axis ('X', 'Y' or 'Z'). degrees: (...) -> (..., 3, 3)."""
    angle = np.deg2rad(degrees)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(c), np.zeros_like(c)
    rows = {
        "X": ((one, zero, zero), (zero, c, -s), (zero, s, c)),
        "Y": ((c, zero, s), (zero, one, zero), (-s, zero, c)),
        "Z": ((c, -s, zero), (s, c, zero), (zero, zero, one)),
    }[axis]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def euler_to_matrix(degrees: np.ndarray, axes: str) -> np.ndarray:
    """Intrinsic Euler angles in the listed axis order -> R = R_a0 · R_a1 · ...
    degrees: (..., n), axes: n letters from 'XYZ' -> (..., 3, 3)."""
    matrix = np.broadcast_to(np.eye(3), (*degrees.shape[:-1], 3, 3)).copy()
    for k, axis in enumerate(axes):
        matrix = matrix @ elementary_rotations(axis, degrees[..., k])
    return matrix


def forward_kinematics(
    parents: np.ndarray, rotations: np.ndarray, translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations (F, J, 3, 3) and positions (F, J, 3) from local rotations (F, J, 3, 3) and
    local translations (F, J, 3); parents (J,) must list parents before children."""
    global_rotations = np.empty_like(rotations)
    positions = np.empty_like(translations)
    for j, parent in enumerate(parents):
        if parent < 0:
            global_rotations[:, j] = rotations[:, j]
            positions[:, j] = translations[:, j]
        else:
            global_rotations[:, j] = global_rotations[:, parent] @ rotations[:, j]
            offset = global_rotations[:, parent] @ translations[:, j, :, None]  # F x 3 x 1
            positions[:, j] = positions[:, parent] + offset[..., 0]
    return global_rotations, positions


def read_text(path: str | os.PathLike) -> str:
    """The text of a `.bvh` or gzip-compressed `.bvh.gz` file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        return data.decode("utf-8", errors="replace")
    except (OSError, EOFError, zlib.error) as err:
        raise OpenHMRError(f"{path}: cannot read BVH file ({err})") from None


def _parse_hierarchy(tokens: list[str], source: str) -> BvhSkeleton:
    """Parse the tokens from 'HIERARCHY' up to a final 'MOTION' token."""
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []
    pending: int | None = None  # joint declared, its '{' not yet seen
    i = 1 if tokens and tokens[0] == "HIERARCHY" else 0
    if i == 0:
        raise OpenHMRError(f"{source}: not a BVH file (expected 'HIERARCHY' first)")
    try:
        while tokens[i] != "MOTION":
            token = tokens[i]
            if token in ("ROOT", "JOINT"):
                if (token == "ROOT") != (not stack):
                    raise OpenHMRError(f"{source}: unexpected {token} {tokens[i + 1]!r}")
                pending = _add_joint(names, parents, offsets, channels, tokens[i + 1], stack)
                i += 2
            elif token == "End" and tokens[i + 1] == "Site":
                pending = _add_joint(names, parents, offsets, channels, None, stack)
                i += 2
            elif token == "{":
                if pending is None:
                    raise OpenHMRError(f"{source}: '{{' without a joint")
                stack.append(pending)
                pending = None
                i += 1
            elif token == "}":
                stack.pop()
                i += 1
            elif token == "OFFSET":
                offsets[stack[-1]] = [float(v) for v in tokens[i + 1 : i + 4]]
                i += 4
            elif token == "CHANNELS":
                count = int(tokens[i + 1])
                names_ = tuple(tokens[i + 2 : i + 2 + count])
                unknown = set(names_) - set(ROTATION_CHANNELS) - set(POSITION_CHANNELS)
                if unknown:
                    raise OpenHMRError(f"{source}: unknown channels {sorted(unknown)}")
                channels[stack[-1]] = names_
                i += 2 + count
            else:
                raise OpenHMRError(f"{source}: unexpected token {token!r} in HIERARCHY")
    except (IndexError, ValueError) as err:
        raise OpenHMRError(f"{source}: malformed BVH hierarchy ({err})") from None
    if stack or not names:
        raise OpenHMRError(f"{source}: unbalanced braces or empty BVH hierarchy")
    return BvhSkeleton(
        names=tuple(names),
        parents=np.array(parents, dtype=np.int64),
        offsets=np.array(offsets, dtype=np.float64),
        channels=tuple(channels),
    )


def _add_joint(
    names: list[str],
    parents: list[int],
    offsets: list[list[float]],
    channels: list[tuple[str, ...]],
    name: str | None,
    stack: list[int],
) -> int:
    parent = stack[-1] if stack else -1
    names.append(name if name is not None else f"{names[parent]}_end")
    parents.append(parent)
    offsets.append([0.0, 0.0, 0.0])
    channels.append(())
    return len(names) - 1


_MOTION_HEADER = re.compile(r"\s*Frames:\s*(\d+)\s+Frame\s+Time:\s*(\S+)")


def _parse_motion(text: str, num_channels: int, source: str) -> tuple[np.ndarray, float]:
    """Channel values (F, C) and the frame time from the text after 'MOTION'."""
    header = _MOTION_HEADER.match(text)
    try:
        if header is None:
            raise ValueError("expected 'Frames: N' and 'Frame Time: T'")
        num_frames, frame_time = int(header.group(1)), float(header.group(2))
        values = np.array(text[header.end() :].split(), dtype=np.float64)
    except ValueError as err:
        raise OpenHMRError(f"{source}: malformed BVH MOTION section ({err})") from None
    expected = num_frames * num_channels
    if values.size < expected or num_frames <= 0 or frame_time <= 0:
        raise OpenHMRError(
            f"{source}: expected {num_frames} frames × {num_channels} channels "
            f"(frame time > 0), found {values.size} values and frame time {frame_time}"
        )
    return values[:expected].reshape(num_frames, num_channels), frame_time


def local_transforms(skeleton: BvhSkeleton, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (F, J, 3, 3) and translations (F, J, 3) from channel values (F, C)."""
    num_frames, num_joints = values.shape[0], len(skeleton.names)
    rotations = np.broadcast_to(np.eye(3), (num_frames, num_joints, 3, 3)).copy()
    translations = np.broadcast_to(skeleton.offsets, (num_frames, num_joints, 3)).copy()
    column = 0
    for j, names in enumerate(skeleton.channels):
        columns = np.arange(column, column + len(names))
        column += len(names)
        rotation = [
            (c, n[0]) for c, n in zip(columns, names, strict=True) if n in ROTATION_CHANNELS
        ]
        for c, n in zip(columns, names, strict=True):
            if n in POSITION_CHANNELS:
                translations[:, j, "XYZ".index(n[0])] += values[:, c]
        if rotation:
            cols, axes = zip(*rotation, strict=True)
            rotations[:, j] = euler_to_matrix(values[:, list(cols)], "".join(axes))
    return rotations, translations


def parse_bvh(text: str, source: str = "<string>") -> BvhMotion:
    """Parse BVH text (any channel order, position channels on any joint) into a BvhMotion."""
    head, marker, motion = text.partition("MOTION")
    if not marker:
        raise OpenHMRError(f"{source}: not a BVH file (no 'MOTION' section)")
    skeleton = _parse_hierarchy([*head.split(), "MOTION"], source)
    num_channels = sum(len(c) for c in skeleton.channels)
    values, frame_time = _parse_motion(motion, num_channels, source)
    rotations, translations = local_transforms(skeleton, values)
    return BvhMotion(skeleton, rotations, translations, frame_time, name=source)


def read_bvh(path: str | os.PathLike) -> BvhMotion:
    """Read and parse a `.bvh` or `.bvh.gz` file."""
    return parse_bvh(read_text(path), source=str(path))
