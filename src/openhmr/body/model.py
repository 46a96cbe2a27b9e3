"""`BodyModel`: one SMPL-format model file's tensors as buffers, and its forward pass."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from openhmr.body.io import BodyModelData, read_body_model
from openhmr.body.lbs import kinematic_levels, pose_channel_major
from openhmr.errors import OpenHMRError
from openhmr.geometry.rotations import axis_angle_to_matrix


@dataclass(frozen=True)
class BodyOutput:
    """vertices (B, V, 3), joints (B, J, 3) skeleton joints, keypoints (B, K, 3),
    rotations (B, J, 3, 3) local joint rotations that produced them."""

    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor
    rotations: torch.Tensor


class BodyModel(nn.Module):
    """M(θ, β) for any SMPL-format model file (official SMPL, smplx `.npz`, the open model).

    Computes exactly `openhmr.body.lbs.lbs`, faster: rest joints come from precomputed
    regressor × template and regressor × shape-direction products (J(β) = J_T + β·J_S, no pass
    over the vertices), forward kinematics runs one batched step per tree level, and keypoints
    regress from only the vertices their regressor uses.  Buffers are not saved in state dicts:
    the model file is the source of truth.
    """

    def __init__(self, data: BodyModelData, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.data = data
        self.parents: tuple[int, ...] = tuple(int(p) for p in data.parents)
        self.levels = kinematic_levels(self.parents)
        self.keypoint_names: tuple[str, ...] = data.keypoint_names
        self.joint_names: tuple[str, ...] = data.joint_names
        num_v, num_b = data.num_vertices, data.num_betas

        def buffer(name: str, value: np.ndarray | None, kind: torch.dtype = dtype) -> None:
            tensor = (
                None if value is None else torch.as_tensor(np.ascontiguousarray(value), dtype=kind)
            )
            self.register_buffer(name, tensor, persistent=False)

        joint_shapes = np.einsum("jv,vcn->njc", data.joint_regressor, data.shapedirs)
        used = np.flatnonzero(np.any(data.keypoint_regressor != 0, axis=0))
        # rest geometry is computed channel-major, (B, 3, V): every per-vertex step then runs
        # over long contiguous rows (2.5x faster than vertex-major at batch 64, see benchmarks)
        channel_major = data.shapedirs.transpose(2, 1, 0).reshape(num_b, 3 * num_v)
        buffer("v_template", data.v_template)
        buffer("rest_template", data.v_template.T.reshape(-1))
        buffer("shape_basis", channel_major)
        buffer("joint_template", data.joint_regressor @ data.v_template)
        buffer("joint_shape_basis", joint_shapes.reshape(num_b, -1))
        pose_basis = None
        if data.posedirs is not None:
            pose_basis = data.posedirs.transpose(2, 1, 0).reshape(-1, 3 * num_v)
        buffer("pose_basis", pose_basis)
        buffer("joint_regressor", data.joint_regressor)
        buffer("skinning_weights", data.weights.T)
        buffer("keypoint_columns", used, torch.long)
        buffer("keypoint_weights", data.keypoint_regressor[:, used])
        buffer("faces", data.faces, torch.long)

    @property
    def num_betas(self) -> int:
        return self.shape_basis.shape[0]

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def name(self) -> str:
        return str(self.data.meta.get("name", "body model"))

    def _rotations(self, pose: torch.Tensor | None, batch: int) -> torch.Tensor:
        dtype, device, num_j = self.v_template.dtype, self.v_template.device, self.num_joints
        if pose is None:
            eye = torch.eye(3, dtype=dtype, device=device)
            return eye.expand(batch, num_j, 3, 3)
        pose = pose.to(dtype)
        if pose.shape[1:] in ((num_j, 3, 3),):
            return pose
        if pose.shape[1:] == (num_j * 3,):
            pose = pose.view(-1, num_j, 3)
        if pose.shape[1:] != (num_j, 3):
            raise OpenHMRError(
                f"pose: expected axis-angle (B, {num_j}, 3) or (B, {num_j * 3}) or "
                f"rotation matrices (B, {num_j}, 3, 3), got {tuple(pose.shape)}"
            )
        return axis_angle_to_matrix(pose)

    def _betas(self, betas: torch.Tensor | None, batch: int) -> torch.Tensor:
        dtype, device = self.v_template.dtype, self.v_template.device
        if betas is None:
            return torch.zeros(batch, 0, dtype=dtype, device=device)
        if betas.ndim != 2 or betas.shape[1] > self.num_betas:
            raise OpenHMRError(
                f"betas: expected (B, n) with n ≤ {self.num_betas}, got {tuple(betas.shape)}"
            )
        return betas.to(dtype)

    def forward(
        self,
        pose: torch.Tensor | None = None,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> BodyOutput:
        """pose: (B, J, 3) axis-angle, (B, 3J), or (B, J, 3, 3) rotation matrices (root first);
        betas: (B, n ≤ num_betas); transl: (B, 3).  Missing inputs are zero (batch from the
        others, or 1).  Returns `BodyOutput`."""
        given = [t for t in (pose, betas, transl) if t is not None]
        batch = given[0].shape[0] if given else 1
        if any(t.shape[0] != batch for t in given):
            raise OpenHMRError(
                f"pose, betas and transl must share the batch size, got "
                f"{[tuple(t.shape) for t in given]}"
            )
        if any(t.device != self.v_template.device for t in given):
            raise OpenHMRError(
                f"inputs must be on the body model's device {self.v_template.device}"
            )
        rotations = self._rotations(pose, batch)  # B x J x 3 x 3
        betas = self._betas(betas, batch)  # B x n
        posed, posed_joints = pose_channel_major(
            rotations, betas, self.rest_template, self.shape_basis, self.pose_basis,
            self.joint_template, self.joint_shape_basis, self.skinning_weights, self.parents,
            self.levels,
        )  # fmt: skip
        vertices = posed.transpose(1, 2).contiguous()  # B x V x 3
        if transl is not None:
            offset = transl.to(vertices.dtype)[:, None, :]
            vertices, posed_joints = vertices + offset, posed_joints + offset
        keypoints = self.keypoint_weights @ vertices[:, self.keypoint_columns]  # B x K x 3
        return BodyOutput(vertices, posed_joints, keypoints, rotations)

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, vertices={self.num_vertices}, joints={self.num_joints}, "
            f"betas={self.num_betas}, keypoints={len(self.keypoint_names)}, "
            f"pose_correctives={self.pose_basis is not None}"
        )


def load_body_model(
    path_or_name: str | os.PathLike = "open",
    keypoint_regressor: str | Path | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> BodyModel:
    """A `BodyModel` from `"open"` (the bundled model) or a path to an official SMPL `.pkl`,
    an smplx-style `.npz` or an openhmr `.npz`.  keypoint_regressor: optional `(K, V)`
    `.npy`/`.npz`/`.pkl` replacing the file's keypoints (see docs/body_model_format.md)."""
    data = read_body_model(path_or_name, keypoint_regressor=keypoint_regressor)
    return BodyModel(data, dtype=dtype).to(device)
