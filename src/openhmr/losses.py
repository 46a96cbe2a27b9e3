"""HMR's losses, as the released code computes them (PAPER.md, "Losses").

    L_E = w_2d · L_reproj + w_3d · L_joints3d + w_smpl · L_smpl + w_adv · L_adv(E)
    L_D = w_adv · (E_real[(D(Θ) − 1)²] + E_fake[D(E(I))²])

- reprojection: L1 over visible keypoint coordinates (crop coordinates in [−1, 1]), divided by
  the number of visible coordinates (TF's ``absolute_difference`` with weights); final Θ_T;
- 3D keypoints: the first 14 (LSP) keypoints, each set centred at its pelvis (mean of the
  hips, indices 2 and 3), ½ · mean squared error over the samples that have 3D; final Θ_T;
- SMPL parameters: ½ · mean squared error over the 24 rotation matrices (216) and β (10), over
  the samples that have SMPL ground truth; final Θ_T;
- adversarial (least squares): per sample the sum over the 25 scores, mean over samples; the
  encoder term pools all T iterations' predictions, D sees them (detached) against mocap.

Every "mean over samples that have it" is zero, not NaN, when no sample has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from openhmr.errors import OpenHMRError
from openhmr.geometry.rotations import axis_angle_to_matrix

NUM_LSP = 14
LEFT_HIP, RIGHT_HIP = 3, 2


@dataclass(frozen=True)
class LossWeights:
    """The released training script's weights (``e_loss_weight``, ``e_3d_weight``,
    ``d_loss_weight``), and root: a further term on the root rotation alone (not in the
    paper; 0 = off), `root_rotation_loss`, where the SMPL term gives the root 9 of its 226
    numbers."""

    reprojection: float = 60.0
    keypoints3d: float = 60.0
    smpl: float = 60.0
    adversarial: float = 1.0
    root: float = 0.0


ITERATION_LOSSES = ("final", "all")


@dataclass(frozen=True)
class EncoderLosses:
    """Unweighted terms (scalars) and the weighted total the encoder minimises."""

    total: torch.Tensor
    reprojection: torch.Tensor
    keypoints3d: torch.Tensor
    smpl: torch.Tensor
    adversarial: torch.Tensor
    root: torch.Tensor


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ w·v / #(w ≠ 0 after broadcasting), 0 when nothing is weighted.
    values: (B, ...) ; weights broadcastable to values."""
    weights = weights.expand_as(values).to(values.dtype)
    count = (weights != 0).sum()
    return (weights * values).sum() / count.clamp_min(1)


def reprojection_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Visibility-weighted L1.  predicted (B, K, 2); target (B, K, 3) = x, y, visibility, both
    in normalised crop coordinates.  Returns a scalar."""
    if predicted.shape[-1] != 2 or target.shape[-1] != 3 or predicted.shape[:2] != target.shape[:2]:
        raise OpenHMRError(
            f"reprojection loss: expected predicted (B, K, 2) and target (B, K, 3), got "
            f"{tuple(predicted.shape)} and {tuple(target.shape)}"
        )
    return _weighted_mean((predicted - target[..., :2]).abs(), target[..., 2:])


def align_by_pelvis(joints: torch.Tensor) -> torch.Tensor:
    """Centre LSP-order joints at the mid-hip.  joints (B, 14, 3) -> (B, 14, 3)."""
    pelvis = (joints[:, LEFT_HIP] + joints[:, RIGHT_HIP]) / 2  # B x 3
    return joints - pelvis[:, None]


def _sample_mask(mask: torch.Tensor | None, batch: int, like: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones(batch, 1, dtype=like.dtype, device=like.device)
    if mask.shape != (batch,):
        raise OpenHMRError(f"mask: expected ({batch},), got {tuple(mask.shape)}")
    return mask.to(like.dtype)[:, None]


def keypoints3d_loss(
    predicted: torch.Tensor, target: torch.Tensor, has_3d: torch.Tensor | None = None
) -> torch.Tensor:
    """½ · MSE of pelvis-centred 3D keypoints.  predicted (B, ≥14, 3) (the first 14 are used);
    target (B, 14, 3) or (B, ≥14, 3); has_3d (B,) bool/0-1, None = all.  Returns a scalar."""
    if predicted.shape[1] < NUM_LSP or target.shape[1] < NUM_LSP or target.shape[-1] < 3:
        raise OpenHMRError(
            f"3D keypoint loss: expected (B, ≥14, 3) for both, got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)}"
        )
    pred = align_by_pelvis(predicted[:, :NUM_LSP, :3]).flatten(1)  # B x 42
    true = align_by_pelvis(target[:, :NUM_LSP, :3]).flatten(1)
    mask = _sample_mask(has_3d, pred.shape[0], pred)
    return 0.5 * _weighted_mean((pred - true) ** 2, mask)


def _pose_matrices(target_pose: torch.Tensor, batch: int) -> torch.Tensor:
    """An SMPL pose target (B, 24, 3) / (B, 72) axis-angle or (B, 24, 3, 3) -> (B, 24, 3, 3)."""
    if target_pose.shape[1:] == (24, 3, 3):
        return target_pose
    return axis_angle_to_matrix(target_pose.reshape(batch, 24, 3))


def smpl_parameter_loss(
    rotations: torch.Tensor,
    betas: torch.Tensor,
    target_pose: torch.Tensor,
    target_betas: torch.Tensor,
    has_smpl: torch.Tensor | None = None,
) -> torch.Tensor:
    """½ · MSE over [24 rotation matrices | β].  rotations (B, 24, 3, 3); betas (B, 10);
    target_pose (B, 24, 3) / (B, 72) axis-angle or (B, 24, 3, 3); target_betas (B, 10);
    has_smpl (B,) bool/0-1, None = all.  Returns a scalar."""
    batch = rotations.shape[0]
    target_pose = _pose_matrices(target_pose, batch)
    if rotations.shape[1:] != (24, 3, 3) or betas.shape != target_betas.shape:
        raise OpenHMRError(
            f"SMPL loss: expected rotations (B, 24, 3, 3) and matching betas, got "
            f"{tuple(rotations.shape)}, {tuple(betas.shape)} vs {tuple(target_betas.shape)}"
        )
    pred = torch.cat([rotations.flatten(1), betas], dim=1)  # B x 226
    true = torch.cat([target_pose.flatten(1).to(pred.dtype), target_betas.to(pred.dtype)], 1)
    mask = _sample_mask(has_smpl, batch, pred)
    return 0.5 * _weighted_mean((pred - true) ** 2, mask)


def root_rotation_loss(
    rotations: torch.Tensor, target_pose: torch.Tensor, has_smpl: torch.Tensor | None = None
) -> torch.Tensor:
    """½ · MSE over the root's rotation matrix alone (a chordal distance: ‖R − R̂‖² =
    4 (1 − cos angle)). rotations (B, 24, 3, 3) or (B, ≥1, 3, 3); target_pose (B, 24, 3) /
    (B, 72) axis-angle or (B, 24, 3, 3); has_smpl (B,) as `smpl_parameter_loss`."""
    batch = rotations.shape[0]
    pred = rotations[:, 0].flatten(1)  # B x 9
    true = _pose_matrices(target_pose, batch)[:, 0].flatten(1).to(pred.dtype)
    mask = _sample_mask(has_smpl, batch, pred)
    return 0.5 * _weighted_mean((pred - true) ** 2, mask)


def adversarial_encoder_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """E's least-squares term: mean over samples of Σ_i (D_i − 1)².  fake_scores (N, 25)."""
    return ((fake_scores - 1) ** 2).sum(1).mean()


def adversarial_discriminator_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """D's least-squares terms (real, fake): mean Σ_i (D_i(real) − 1)², mean Σ_i D_i(fake)².
    real_scores (N, 25), fake_scores (M, 25)."""
    return ((real_scores - 1) ** 2).sum(1).mean(), (fake_scores**2).sum(1).mean()


def _discriminator_inputs(outputs: Sequence, detach: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """All iterations' non-root rotations (T·B, 23, 3, 3) and betas (T·B, 10)."""
    rotations = torch.cat([out.rotations[:, 1:] for out in outputs])
    betas = torch.cat([out.betas for out in outputs])
    return (rotations.detach(), betas.detach()) if detach else (rotations, betas)


def _supervised_terms(
    output, keypoints2d, keypoints3d, has_keypoints3d, smpl_pose, smpl_betas, has_smpl, zero
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One iteration's reprojection, 3D, SMPL and root terms (`encoder_losses`)."""
    reprojection = reprojection_loss(output.keypoints2d, keypoints2d)
    joints3d = zero
    if keypoints3d is not None:
        joints3d = keypoints3d_loss(output.keypoints3d, keypoints3d, has_keypoints3d)
    smpl = root = zero
    if smpl_pose is not None and smpl_betas is not None:
        smpl = smpl_parameter_loss(output.rotations, output.betas, smpl_pose, smpl_betas, has_smpl)
        root = root_rotation_loss(output.rotations, smpl_pose, has_smpl)
    return reprojection, joints3d, smpl, root


def encoder_losses(
    outputs: Sequence,
    keypoints2d: torch.Tensor,
    keypoints3d: torch.Tensor | None = None,
    has_keypoints3d: torch.Tensor | None = None,
    smpl_pose: torch.Tensor | None = None,
    smpl_betas: torch.Tensor | None = None,
    has_smpl: torch.Tensor | None = None,
    discriminator: torch.nn.Module | None = None,
    weights: LossWeights = LossWeights(),
    iterations: str = "final",
) -> EncoderLosses:
    """The encoder's objective from `HMR`'s per-iteration outputs (each an `HMROutput` made with
    a body model).  keypoints2d (B, K, 3); keypoints3d (B, 14, 3) with has_keypoints3d (B,);
    smpl_pose (B, 24, 3) and smpl_betas (B, 10) with has_smpl (B,); None = not in this batch.
    Reprojection and 3D use the final iteration (the paper's; iterations "all": their mean
    over every iteration, each of which then needs its keypoints); the adversarial term every
    iteration."""
    if iterations not in ITERATION_LOSSES:
        raise OpenHMRError(
            f"iteration losses: expected one of {ITERATION_LOSSES}, got {iterations!r}"
        )
    supervised = outputs[-1:] if iterations == "final" else list(outputs)
    if any(o.keypoints2d is None for o in supervised):
        raise OpenHMRError("encoder losses: the HMR outputs need a body model (no keypoints)")
    zero = outputs[-1].params.new_zeros(())
    if smpl_pose is not None:  # once, for every supervised iteration's SMPL and root terms
        smpl_pose = _pose_matrices(smpl_pose, smpl_pose.shape[0])
    terms = [_supervised_terms(o, keypoints2d, keypoints3d, has_keypoints3d, smpl_pose,
                               smpl_betas, has_smpl, zero) for o in supervised]  # fmt: skip
    reprojection, joints3d, smpl, root = (torch.stack(t).mean() for t in zip(*terms, strict=True))
    adversarial = zero
    if discriminator is not None:
        adversarial = adversarial_encoder_loss(
            discriminator(*_discriminator_inputs(outputs, detach=False))
        )
    total = (
        weights.reprojection * reprojection
        + weights.keypoints3d * joints3d
        + weights.smpl * smpl
        + weights.adversarial * adversarial
        + weights.root * root
    )
    return EncoderLosses(total, reprojection, joints3d, smpl, adversarial, root)


def discriminator_losses(
    discriminator: torch.nn.Module,
    outputs: Sequence,
    real_pose: torch.Tensor,
    real_betas: torch.Tensor,
    weights: LossWeights = LossWeights(),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """D's objective (total, real, fake): mocap (real_pose (N, 24, 3) axis-angle or
    (N, 24, 3, 3), real_betas (N, 10); N = T·B in the released code) against all T iterations'
    predictions, detached so only D learns from it."""
    if real_pose.shape[1:] != (24, 3, 3):
        real_pose = axis_angle_to_matrix(real_pose.reshape(real_pose.shape[0], 24, 3))
    fake_scores = discriminator(*_discriminator_inputs(outputs, detach=True))
    real_scores = discriminator(real_pose[:, 1:], real_betas)
    real, fake = adversarial_discriminator_loss(real_scores, fake_scores)
    return weights.adversarial * (real + fake), real, fake
