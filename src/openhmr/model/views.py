"""Test-time views: the regressor reads φ mirrored and turned, and the crop read mirrored, and
the bodies it returns, brought back to the crop's frame, are averaged (`HMRConfig.views`).

A MoveNet encoder's φ holds points (`openhmr.model.movenet_encoder`), so the φ of a mirrored or
turned crop is, up to the pose networks' own inexactness, a function of φ itself:
- mirrored (x ↦ −x): keypoint and landmark x negated, left and right swapped, BlazePose's world
  x negated;
- turned by a about the crop's centre (`openhmr.train.feature_augment`'s convention,
  p ↦ R(a) p): keypoint and landmark x, y and BlazePose's world x, y turned by R(a).
Keypoints hidden as unseen stay zero and a reading zeroed by a low pose flag stays zero.

The regressor's answer for such a view is brought back:
- mirrored: camera tx negated, the SMPL joints swapped left/right and each rotation mirrored
  (x kept, y and z negated, `openhmr.data.augment.flip_pose`'s rule);
- turned: the root turned back by R(a)ᵀ about the camera axis, the camera's t turned back
  (s · (R X + t') = R · s · (X + Rᵀ t')).
The views' Θ are then averaged: camera and β arithmetically, each joint's rotation as the
rotation nearest the mean matrix (their chordal mean, by Newton's polar iteration: arithmetic
only, so ONNX export keeps working).

VIEWS:
  "one"           φ alone (the network as trained);
  "mirror"        φ and its mirror image: 2 regressor passes;
  "mirror-turns"  those, each also turned by ±`TURN_DEG`: 6 regressor passes;
  "flip"          the crop also read mirrored by the encoder (2 encoder reads), each reading
                  and its mirror image: 4 regressor passes;
  "flip-turns"    "flip" with each also turned by ±`TURN_DEG`: 12 regressor passes.
The regressor is small beside the encoder: the φ views cost little; "flip" doubles the
encoder's time. Views need a MoveNet encoder whose φ holds keypoints and no pooled map (a
pooled map cannot be mirrored from φ) and the "hmr" head.
"""

from __future__ import annotations

import functools
import math

import torch

from openhmr.body.keypoints import COCO17_NAMES, SMPL_FLIP_PERMUTATION
from openhmr.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    polar_rotation,
)
from openhmr.model.movenet_encoder import (
    BLAZEPOSE_LANDMARKS,
    MIN_POSE_FLAG,
    MOVENET_BACKBONES,
    UNSEEN_SCORE,
    blazepose_variants,
    keypoint_columns,
)

VIEWS = ("one", "mirror", "mirror-turns", "flip", "flip-turns")
TURN_DEG = 20.0
LANDMARK_WIDTH = 6  # BlazePose in φ: x, y, world x, y, z, visibility per landmark


def views_problem(views: str, backbone: str, head: str, features: str) -> tuple[str, str] | None:
    """(setting, problem) when this network cannot read `views`, else None."""
    if views not in VIEWS:
        return "views", f"expected one of {VIEWS}, got {views!r}"
    if views == "one":
        return None
    if backbone not in MOVENET_BACKBONES or "keypoints" not in features or "pooled" in features:
        return "views", (
            f"views {views!r} need a MoveNet encoder whose features hold keypoints and no "
            f"pooled map, got {backbone!r} with {features!r}"
        )
    if head != "hmr":
        return "views", f'views {views!r} need the "hmr" head, got {head!r}'
    return None


def reads_flipped(views: str) -> bool:
    """Whether `views` has the encoder read the mirrored crop too."""
    return views.startswith("flip")


def with_flip(views: str) -> str:
    """`views` with the mirrored crop's reading too ("mirror" -> "flip", "mirror-turns" ->
    "flip-turns"; others unchanged): what the fit starts from (`Predictor.from_checkpoint`
    with refine, `openhmr eval --refine`), where the second encoder read costs little beside
    the fit."""
    return views.replace("mirror", "flip") if views.startswith("mirror") else views


def view_list(views: str) -> list[tuple[bool, float]]:
    """(mirror φ, turn in degrees) of each φ view of one reading."""
    turns = (0.0, -TURN_DEG, TURN_DEG) if views.endswith("turns") else (0.0,)
    mirrors = (False,) if views == "one" else (False, True)
    return [(mirror, turn) for mirror in mirrors for turn in turns]


@functools.cache
def _swap(names: tuple[str, ...]) -> list[int]:
    """Index of each name's left/right counterpart (itself when it has none); computed once
    per name list."""

    def other(name: str) -> str:
        for a, b in (("left", "right"), ("right", "left")):
            if name.startswith(a):
                return b + name[len(a) :]
            if name.endswith("_" + a):
                return name[: -len(a)] + b
        return name

    where = {name: i for i, name in enumerate(names)}
    return [where[other(name)] for name in names]


def _landmark_names() -> tuple[str, ...]:
    from openhmr.posenet.blazepose import LANDMARK_NAMES

    return LANDMARK_NAMES[:BLAZEPOSE_LANDMARKS]


def turn_matrix(angle_deg: float) -> torch.Tensor:
    """R(a) = [[cos a, sin a], [−sin a, cos a]] (2, 2), float64."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    return torch.tensor([[cos, sin], [-sin, cos]], dtype=torch.float64)


def view_features(phi: torch.Tensor, features: str, mirror: bool, turn_deg: float) -> torch.Tensor:
    """φ (B, D) of a MoveNet encoder -> φ of the crop mirrored (if `mirror`), then turned by
    `turn_deg` (module docstring)."""
    if not turn_deg:
        return move_features(phi, features, mirror)
    turn = turn_matrix(turn_deg).to(phi.dtype)
    return move_features(phi, features, mirror, turn, turn)


def move_features(
    phi: torch.Tensor,
    features: str,
    mirror: bool,
    linear: torch.Tensor | None = None,
    turn: torch.Tensor | None = None,
    shift: torch.Tensor | None = None,
) -> torch.Tensor:
    """φ (B, D) of a MoveNet encoder -> φ of the crop mirrored (if `mirror`: x ↦ −x, left and
    right swapped, BlazePose's world x negated), then moved p ↦ linear · p + shift (2, 2), (2,)
    in normalised crop coordinates; BlazePose's world x, y turn by `turn` (2, 2) alone.
    Keypoints hidden as unseen stay zero, and a reading zeroed by a low pose flag stays zero.
    None: no move (the identity). The one φ geometry of test-time views
    (`view_features`) and training's feature augmentation
    (`openhmr.train.feature_augment.transform_phi`)."""
    columns = keypoint_columns(features)
    keypoints = phi[:, columns].unflatten(1, (-1, 3))  # B x 17 x 3
    seen = keypoints[..., 2:] >= UNSEEN_SCORE if "seen-keypoints" in features else None
    readings = []  # per BlazePose variant: landmarks B x 33 x 6, flag B x 1
    end = columns.stop
    for _ in blazepose_variants(features):
        stop = end + LANDMARK_WIDTH * BLAZEPOSE_LANDMARKS
        readings.append(
            (phi[:, end:stop].unflatten(1, (-1, LANDMARK_WIDTH)), phi[:, stop : stop + 1])
        )
        end = stop + 1
    if mirror:
        keypoints = keypoints[:, _swap(COCO17_NAMES)] * keypoints.new_tensor([-1.0, 1.0, 1.0])
        if seen is not None:
            seen = seen[:, _swap(COCO17_NAMES)]
        sign = phi.new_tensor([-1.0, 1.0, -1.0, 1.0, 1.0, 1.0])
        readings = [(marks[:, _swap(_landmark_names())] * sign, flag) for marks, flag in readings]
    if linear is not None or shift is not None:
        eye = torch.eye(2, dtype=phi.dtype)
        linear = eye if linear is None else linear.to(phi.dtype)
        turn = eye if turn is None else turn.to(phi.dtype)
        offset = phi.new_zeros(2) if shift is None else shift.to(phi.dtype)
        xy = keypoints[..., :2] @ linear.T + offset
        if seen is not None:  # unseen keypoints stay zero
            xy = torch.where(seen, xy, keypoints[..., :2])
        keypoints = torch.cat([xy, keypoints[..., 2:]], dim=-1)
        readings = [
            (_move_landmarks(marks, flag, linear, turn, offset), flag) for marks, flag in readings
        ]
    parts = [phi[:, : columns.start], keypoints.flatten(1)]
    for marks, flag in readings:
        parts += [marks.flatten(1), flag]
    parts.append(phi[:, end:])
    return torch.cat(parts, dim=1)


def _move_landmarks(
    landmarks: torch.Tensor,
    flag: torch.Tensor,
    linear: torch.Tensor,
    turn: torch.Tensor,
    offset: torch.Tensor,
) -> torch.Tensor:
    """One BlazePose reading's landmarks (B, 33, 6) moved: x, y by `linear` and `offset`, world
    x, y by `turn`; a reading zeroed by a low pose flag (B, 1) stays zero."""
    on = (flag >= MIN_POSE_FLAG)[:, :, None]
    moved = torch.cat(
        [landmarks[..., :2] @ linear.T + offset, landmarks[..., 2:4] @ turn.T, landmarks[..., 4:]],
        dim=-1,
    )
    return torch.where(on, moved, landmarks)


def params_back(params: torch.Tensor, mirror: bool, turn_deg: float) -> torch.Tensor:
    """Θ (B, 85) the regressor gave for a view -> Θ in the crop's own frame (module docstring;
    the turn is undone first, then the mirror)."""
    camera, pose, betas = params[:, :3], params[:, 3:75].unflatten(1, (24, 3)), params[:, 75:]
    if turn_deg:
        turn = turn_matrix(turn_deg).to(params.dtype)
        camera = torch.cat([camera[:, :1], camera[:, 1:] @ turn], dim=1)  # Rᵀ t, rows
        about_z = torch.eye(3, dtype=params.dtype)
        about_z[:2, :2] = turn
        root = matrix_to_axis_angle(about_z.T @ axis_angle_to_matrix(pose[:, 0]))
        pose = torch.cat([root[:, None], pose[:, 1:]], dim=1)
    if mirror:
        camera = camera * camera.new_tensor([1.0, -1.0, 1.0])
        pose = pose[:, list(SMPL_FLIP_PERMUTATION)] * pose.new_tensor([1.0, -1.0, -1.0])
    return torch.cat([camera, pose.flatten(1), betas], dim=1)


def average_params(params: torch.Tensor) -> torch.Tensor:
    """Θ of V views (V, B, 85) -> (B, 85): camera and β averaged, each joint's rotation the
    rotation nearest the views' mean matrix (their chordal mean, `polar_rotation`)."""
    rotations = axis_angle_to_matrix(params[..., 3:75].unflatten(-1, (24, 3))).mean(dim=0)
    pose = matrix_to_axis_angle(polar_rotation(rotations))
    mean = params.mean(dim=0)
    return torch.cat([mean[:, :3], pose.flatten(1), mean[:, 75:]], dim=1)
