"""`KeypointModel`: a body model's keypoints without its full mesh.

Keypoints are linear in the posed vertices, and only the vertices their regressor uses matter
(129 of the open model's 13,718; about 100 of SMPL's 6,890 with the cocoplus regressor), so
posing just those vertices gives exactly `BodyModel(...).keypoints` at a fraction of the cost.
Test-time fitting evaluates the body hundreds of times per person; this is what it calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from openhmr.body.lbs import pose_channel_major
from openhmr.body.model import BodyModel


@dataclass(frozen=True)
class KeypointOutput:
    """keypoints (B, K, 3) as `BodyOutput.keypoints`; joints (B, J, 3) posed skeleton joints;
    rotations (B, J, 3, 3) the local rotations that produced them; vertices (B, V', 3) the
    extra vertices asked for (`KeypointModel(vertices=...)`), else None."""

    keypoints: torch.Tensor
    joints: torch.Tensor
    rotations: torch.Tensor
    vertices: torch.Tensor | None = None


class KeypointModel(nn.Module):
    """forward(pose, betas) -> `KeypointOutput`, equal to the `BodyModel`'s keypoints and joints
    (same inputs and conventions as `BodyModel.forward`, without `transl`).  vertices: indices
    (V',) of mesh vertices to pose as well (e.g. a sample of the surface for a silhouette)."""

    def __init__(self, body_model: BodyModel, vertices: torch.Tensor | None = None) -> None:
        super().__init__()
        self.body_model = body_model
        used = body_model.keypoint_columns
        self.used = len(used)
        extra = torch.zeros(0, dtype=torch.long) if vertices is None else torch.as_tensor(vertices)
        self.extra = None if vertices is None else len(extra)
        columns = torch.cat([used, extra.to(used)])  # U + V' posed vertices
        num_v = body_model.num_vertices
        # channel-major (c · V + v) entries of the used vertices, as BodyModel stores them
        flat = torch.cat([columns + c * num_v for c in range(3)])  # 3U
        self.register_buffer("rest_template", body_model.rest_template[flat], persistent=False)
        self.register_buffer("shape_basis", body_model.shape_basis[:, flat], persistent=False)
        pose_basis = None if body_model.pose_basis is None else body_model.pose_basis[:, flat]
        self.register_buffer("pose_basis", pose_basis, persistent=False)
        self.register_buffer(
            "skinning_weights", body_model.skinning_weights[:, columns], persistent=False
        )
        self.keypoint_names = body_model.keypoint_names

    def forward(
        self, pose: torch.Tensor | None = None, betas: torch.Tensor | None = None
    ) -> KeypointOutput:
        model = self.body_model
        given = [t for t in (pose, betas) if t is not None]
        batch = given[0].shape[0] if given else 1
        rotations = model._rotations(pose, batch)  # B x J x 3 x 3
        betas = model._betas(betas, batch)  # B x n
        posed, posed_joints = pose_channel_major(
            rotations, betas, self.rest_template, self.shape_basis, self.pose_basis,
            model.joint_template, model.joint_shape_basis, self.skinning_weights, model.parents,
            model.levels,
        )  # B x 3 x U, B x J x 3  # fmt: skip
        points = posed.transpose(1, 2)  # B x (U + V') x 3
        keypoints = (model.keypoint_weights @ points[:, : self.used]).contiguous()  # B x K x 3
        vertices = None if self.extra is None else points[:, self.used :]
        return KeypointOutput(keypoints, posed_joints, rotations, vertices)
