"""Iterative error feedback (IEF) regressors: φ (B, F) -> Θ_t for t = 1 … T.

- `IEFRegressor`: HMR's head.  Θ = [s, tx, ty | θ 72 axis-angle | β 10] (85 numbers);
  [φ, Θ_t] → FC1024 → ReLU → Dropout(0.5) → FC1024 → ReLU → Dropout(0.5) → FC85 = ΔΘ_t,
  Θ_{t+1} = Θ_t + ΔΘ_t, weights shared across iterations, Θ_0 a trainable mean vector.
  With `feedback_dim` > 0 each step also reads a feedback vector computed from Θ_t by the
  caller (`HMR`'s keypoint feedback: where the body at Θ_t projects against the keypoints
  in φ): [φ, Θ_t, f(Θ_t)] → … → ΔΘ_t.
- `SpinRegressor`: SPIN's head, with SPIN's names so its checkpoints load unchanged.
  Θ = [pose 144 (24 × 6D, "columns" layout) | β 10 | s, tx, ty] (157 numbers); FC layers
  *without* ReLU (as SPIN), Θ_0 stored as buffers ``init_pose``, ``init_shape``, ``init_cam``.

Both `decode` a parameter vector into a `Theta` (camera, axis-angle pose, rotation matrices,
betas) so the rest of the network does not care which head it has.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from openhmr.errors import OpenHMRError
from openhmr.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)

NUM_JOINTS = 24
NUM_BETAS = 10
NUM_CAMERA = 3
THETA_DIM = NUM_CAMERA + 3 * NUM_JOINTS + NUM_BETAS  # 85
SPIN_DIM = 6 * NUM_JOINTS + NUM_BETAS + NUM_CAMERA  # 157
HEADS = ("hmr", "spin")


@dataclass(frozen=True)
class Theta:
    """camera (B, 3) = s, tx, ty; pose (B, 24, 3) axis-angle; rotations (B, 24, 3, 3);
    betas (B, 10)."""

    camera: torch.Tensor
    pose: torch.Tensor
    rotations: torch.Tensor
    betas: torch.Tensor


def default_mean_theta(
    mean_pose: torch.Tensor | None = None, mean_shape: torch.Tensor | None = None
) -> torch.Tensor:
    """HMR's Θ_0 (85,): camera [0.9, 0, 0], the mean pose with its root replaced by a rotation of
    π about x (the body faces the camera, upright in the image), the mean shape.

    mean_pose: (72,) or (24, 3) axis-angle, default zeros (SMPL's rest pose; the released model
    used the mean of its mocap data, which its checkpoint carries); mean_shape: (10,), default 0.
    """
    pose = torch.zeros(NUM_JOINTS, 3) if mean_pose is None else mean_pose.reshape(-1, 3).clone()
    shape = torch.zeros(NUM_BETAS) if mean_shape is None else mean_shape.reshape(-1)
    if pose.shape != (NUM_JOINTS, 3) or shape.shape != (NUM_BETAS,):
        raise OpenHMRError(
            f"mean parameters: expected pose (72,) and shape (10,), got "
            f"{tuple(mean_pose.shape) if mean_pose is not None else None} and "
            f"{tuple(mean_shape.shape) if mean_shape is not None else None}"
        )
    pose[0] = torch.tensor([math.pi, 0.0, 0.0])
    camera = torch.tensor([0.9, 0.0, 0.0])
    return torch.cat([camera, pose.reshape(-1), shape.float()]).float()


def split_theta(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Θ (B, 85) -> camera (B, 3), pose (B, 24, 3) axis-angle, betas (B, 10)."""
    if theta.shape[-1] != THETA_DIM:
        raise OpenHMRError(f"Θ: expected (B, {THETA_DIM}), got {tuple(theta.shape)}")
    camera = theta[:, :NUM_CAMERA]
    pose = theta[:, NUM_CAMERA : NUM_CAMERA + 3 * NUM_JOINTS].unflatten(1, (NUM_JOINTS, 3))
    return camera, pose, theta[:, NUM_CAMERA + 3 * NUM_JOINTS :]


def _init_linear(layer: nn.Linear, gain: float = 1.0) -> nn.Linear:
    # slim's defaults: Glorot-uniform weights, zero biases
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


class IEFRegressor(nn.Module):
    """HMR's IEF head.  forward: φ (B, F) -> [Θ_1, …, Θ_T], each (B, 85).

    The last layer starts small: TF's variance scaling (factor 0.01, fan-average, uniform) is
    Glorot-uniform with gain 0.1.
    """

    def __init__(
        self,
        feature_dim: int = 2048,
        hidden: int = 1024,
        iterations: int = 3,
        mean_theta: torch.Tensor | None = None,
        feedback_dim: int = 0,
    ) -> None:
        super().__init__()
        self.iterations = iterations
        self.feedback_dim = feedback_dim
        self.fc1 = _init_linear(nn.Linear(feature_dim + THETA_DIM + feedback_dim, hidden))
        self.fc2 = _init_linear(nn.Linear(hidden, hidden))
        self.fc3 = _init_linear(nn.Linear(hidden, THETA_DIM), gain=0.1)
        self.dropout = nn.Dropout(0.5)
        mean = default_mean_theta() if mean_theta is None else mean_theta.reshape(-1).float()
        if mean.shape != (THETA_DIM,):
            raise OpenHMRError(f"mean Θ: expected ({THETA_DIM},), got {tuple(mean.shape)}")
        self.mean_theta = nn.Parameter(mean[None].clone())  # 1 x 85

    def step(
        self, features: torch.Tensor, theta: torch.Tensor, feedback: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ΔΘ for [φ, Θ_t(, f(Θ_t))]: (B, F), (B, 85)(, (B, feedback_dim)) -> (B, 85)."""
        parts = [features, theta] if feedback is None else [features, theta, feedback]
        x = torch.cat(parts, dim=1)
        x = self.dropout(torch.relu(self.fc1(x)))
        x = self.dropout(torch.relu(self.fc2(x)))
        return self.fc3(x)

    def forward(
        self,
        features: torch.Tensor,
        feedback: Callable[[torch.Tensor], torch.Tensor] | None = None,
        start_root: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """φ (B, F) -> [Θ_1, …, Θ_T]; feedback: Θ_t (B, 85) -> (B, feedback_dim), required
        exactly when the regressor was built with feedback_dim > 0; start_root: (B, 3)
        axis-angle for Θ₀'s root (default the mean's)."""
        if (feedback is None) != (self.feedback_dim == 0):
            raise OpenHMRError(
                f"IEF regressor built with feedback_dim {self.feedback_dim}: "
                + ("a feedback function is needed" if feedback is None else "it takes none")
            )
        thetas = regress_in_lockstep((self,), features, feedback, start_root)
        return [theta[0] for theta in thetas]

    def decode(self, theta: torch.Tensor) -> Theta:
        """Θ (B, 85) -> `Theta`."""
        camera, pose, betas = split_theta(theta)
        return Theta(camera, pose, axis_angle_to_matrix(pose), betas)


def regress_in_lockstep(
    heads: tuple[IEFRegressor, ...],
    features: torch.Tensor,
    feedback: Callable[[torch.Tensor], torch.Tensor] | None = None,
    start_root: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """IEF heads of one shape on the same φ (B, F), stepping together -> [Θ_1, …, Θ_T], each
    (H, B, 85).  feedback: every head's Θ_t at once, (H · B, 85) head-major -> (H · B,
    feedback_dim), so a caller's feedback (`HMR`'s keypoint feedback poses the body) runs once
    an iteration for all heads.  start_root: (B, 3) axis-angle that replaces Θ₀'s root for
    every head (`HMRConfig.root_start`); None keeps each head's mean.  One head is
    `IEFRegressor.forward`."""
    first = heads[0]
    for head in heads[1:]:
        if (head.iterations, head.feedback_dim) != (first.iterations, first.feedback_dim):
            raise OpenHMRError("IEF heads in lockstep: expected the same iterations and feedback")
    count = len(heads)
    theta = torch.stack([head.mean_theta.expand(features.shape[0], -1) for head in heads])
    if start_root is not None:
        if start_root.shape != (features.shape[0], 3):
            raise OpenHMRError(
                f"start root: expected ({features.shape[0]}, 3), got {tuple(start_root.shape)}"
            )
        root = start_root.to(theta.dtype)[None].expand(count, -1, -1)
        theta = torch.cat([theta[..., :3], root, theta[..., 6:]], dim=-1)
    thetas = []
    for _ in range(first.iterations):
        signal = None
        if feedback is not None:
            signal = feedback(theta.flatten(0, 1)).unflatten(0, (count, -1))
        steps = [
            head.step(features, theta[h], None if signal is None else signal[h])
            for h, head in enumerate(heads)
        ]
        theta = theta + torch.stack(steps)
        thetas.append(theta)
    return thetas


class SpinRegressor(nn.Module):
    """SPIN's head (``models/hmr.py``), same names and arithmetic: forward φ (B, F) ->
    [Θ_1, …, Θ_T], each (B, 157) = [pose 6D (144) | β (10) | camera (3)].

    mean: Θ_0 as (157,) in the same layout; default the 6D form of `default_mean_theta`.
    """

    def __init__(
        self,
        feature_dim: int = 2048,
        hidden: int = 1024,
        iterations: int = 3,
        mean: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.iterations = iterations
        npose = 6 * NUM_JOINTS
        self.fc1 = nn.Linear(feature_dim + SPIN_DIM, hidden)
        self.drop1 = nn.Dropout()
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop2 = nn.Dropout()
        self.decpose = nn.Linear(hidden, npose)
        self.decshape = nn.Linear(hidden, NUM_BETAS)
        self.deccam = nn.Linear(hidden, NUM_CAMERA)
        for layer in (self.decpose, self.decshape, self.deccam):
            nn.init.xavier_uniform_(layer.weight, gain=0.01)
        if mean is None:
            camera, pose, betas = split_theta(default_mean_theta()[None])
            six_d = matrix_to_rotation_6d(axis_angle_to_matrix(pose), layout="columns")
            mean = torch.cat([six_d.reshape(-1), betas.reshape(-1), camera.reshape(-1)])
        mean = mean.reshape(-1).float()
        if mean.shape != (SPIN_DIM,):
            raise OpenHMRError(f"SPIN mean: expected ({SPIN_DIM},), got {tuple(mean.shape)}")
        self.register_buffer("init_pose", mean[None, :npose].clone())
        self.register_buffer("init_shape", mean[None, npose : npose + NUM_BETAS].clone())
        self.register_buffer("init_cam", mean[None, npose + NUM_BETAS :].clone())

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        batch = features.shape[0]
        pose = self.init_pose.expand(batch, -1)
        shape = self.init_shape.expand(batch, -1)
        cam = self.init_cam.expand(batch, -1)
        outputs = []
        for _ in range(self.iterations):
            x = torch.cat([features, pose, shape, cam], dim=1)
            x = self.drop2(self.fc2(self.drop1(self.fc1(x))))
            pose = self.decpose(x) + pose
            shape = self.decshape(x) + shape
            cam = self.deccam(x) + cam
            outputs.append(torch.cat([pose, shape, cam], dim=1))
        return outputs

    def decode(self, params: torch.Tensor) -> Theta:
        """(B, 157) -> `Theta` (6D → matrices by Gram–Schmidt, SPIN's "columns" layout)."""
        if params.shape[-1] != SPIN_DIM:
            raise OpenHMRError(f"SPIN Θ: expected (B, {SPIN_DIM}), got {tuple(params.shape)}")
        npose = 6 * NUM_JOINTS
        six_d = params[:, :npose].unflatten(1, (NUM_JOINTS, 6))
        rotations = rotation_6d_to_matrix(six_d, layout="columns")
        betas = params[:, npose : npose + NUM_BETAS]
        camera = params[:, npose + NUM_BETAS :]
        return Theta(camera, matrix_to_axis_angle(rotations), rotations, betas)


def build_regressor(
    head: str, feature_dim: int, hidden: int = 1024, iterations: int = 3, feedback_dim: int = 0
) -> IEFRegressor | SpinRegressor:
    """`"hmr"` (85-D axis-angle Θ; feedback_dim: see `IEFRegressor`) or `"spin"` (157-D, 6D
    rotations, no feedback)."""
    if head == "hmr":
        return IEFRegressor(feature_dim, hidden, iterations, feedback_dim=feedback_dim)
    if head == "spin":
        if feedback_dim:
            raise OpenHMRError('keypoint feedback: only the "hmr" head takes it')
        return SpinRegressor(feature_dim, hidden, iterations)
    raise OpenHMRError(f"head: expected one of {HEADS}, got {head!r}")
