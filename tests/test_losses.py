"""HMR's losses against values computed by hand on tiny inputs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from openhmr import OpenHMRError
from openhmr.losses import (
    LossWeights,
    adversarial_discriminator_loss,
    adversarial_encoder_loss,
    align_by_pelvis,
    discriminator_losses,
    encoder_losses,
    keypoints3d_loss,
    reprojection_loss,
    root_rotation_loss,
    smpl_parameter_loss,
)


def test_reprojection_is_l1_over_visible_coordinates():
    predicted = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.5, -0.5]]])
    target = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    # visible: |0-1| + |0-0| + |0.5-0| + |-0.5-0| = 2 over 4 visible coordinates
    assert reprojection_loss(predicted, target).item() == pytest.approx(0.5)


def test_reprojection_with_nothing_visible_is_zero_with_finite_gradient():
    predicted = torch.randn(2, 19, 2, requires_grad=True)
    target = torch.zeros(2, 19, 3)
    loss = reprojection_loss(predicted, target)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(predicted.grad, torch.zeros_like(predicted))


def test_reprojection_rejects_bad_shapes():
    with pytest.raises(OpenHMRError, match="reprojection"):
        reprojection_loss(torch.zeros(1, 19, 3), torch.zeros(1, 19, 3))


def test_pelvis_alignment_uses_mid_hip():
    joints = torch.zeros(1, 14, 3)
    joints[0, 2] = torch.tensor([2.0, 0.0, 0.0])  # right hip
    joints[0, 3] = torch.tensor([0.0, 4.0, 0.0])  # left hip
    aligned = align_by_pelvis(joints)
    assert torch.equal(aligned[0, 0], torch.tensor([-1.0, -2.0, 0.0]))


def test_keypoints3d_loss_hand_computed_and_masked():
    target = torch.zeros(2, 14, 3)
    predicted = torch.zeros(2, 19, 3)
    predicted[0, 0] = torch.tensor([1.0, 0.0, 0.0])  # one joint off by 1 m, hips at 0
    predicted[1] = 100.0 * torch.randn(19, 3)  # sample without 3D: must not count
    loss = keypoints3d_loss(predicted, target, torch.tensor([True, False]))
    assert loss.item() == pytest.approx(0.5 * 1.0 / 42)
    # a rigid translation is free
    shifted = target + torch.tensor([0.3, -2.0, 5.0])
    assert keypoints3d_loss(shifted, target).item() == pytest.approx(0.0, abs=1e-12)


def test_keypoints3d_loss_without_any_3d_is_exactly_zero():
    predicted = torch.randn(3, 19, 3, requires_grad=True)
    loss = keypoints3d_loss(predicted, torch.randn(3, 14, 3), torch.zeros(3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(predicted.grad, torch.zeros_like(predicted))


def test_smpl_parameter_loss_hand_computed():
    rotations = torch.eye(3).expand(1, 24, 3, 3)
    betas = torch.zeros(1, 10)
    target_pose = torch.zeros(1, 24, 3)
    target_pose[0, 1] = torch.tensor([0.0, 0.0, math.pi / 2])  # R = [[0,-1,0],[1,0,0],[0,0,1]]
    target_betas = torch.zeros(1, 10)
    target_betas[0, 4] = 2.0
    # rotation: four entries differ by 1 -> 4; betas: 2² = 4; 8 over 24·9 + 10 = 226 values
    loss = smpl_parameter_loss(rotations, betas, target_pose, target_betas)
    assert loss.item() == pytest.approx(0.5 * 8 / 226, rel=1e-5)
    # rotation-matrix targets give the same; masked-out samples do not count
    as_matrices = torch.eye(3).repeat(2, 24, 1, 1)
    as_matrices[0, 1] = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    loss2 = smpl_parameter_loss(
        rotations.expand(2, -1, -1, -1),
        torch.zeros(2, 10),
        as_matrices,
        torch.cat([target_betas, torch.full((1, 10), 9.0)]),
        torch.tensor([1.0, 0.0]),
    )
    assert loss2.item() == pytest.approx(0.5 * 8 / 226, rel=1e-5)


def test_least_squares_adversarial_terms():
    fake = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    real = torch.tensor([[1.0, 3.0]])
    # encoder: mean over samples of Σ (d − 1)²: ((1 + 1) + 0) / 2
    assert adversarial_encoder_loss(fake).item() == pytest.approx(1.0)
    real_term, fake_term = adversarial_discriminator_loss(real, fake)
    assert real_term.item() == pytest.approx(4.0)  # (0 + 4) / 1
    assert fake_term.item() == pytest.approx(3.0)  # ((0 + 4) + (1 + 1)) / 2


class _ConstantD(torch.nn.Module):
    """Scores every body with the mean of its inputs, so the expected values are easy."""

    def forward(self, rotations, betas):
        value = rotations.flatten(1).mean(1, keepdim=True) + betas.mean(1, keepdim=True)
        return value.expand(-1, 25)


def _output(rotations, betas, keypoints2d, keypoints3d):
    return SimpleNamespace(
        params=torch.zeros(rotations.shape[0], 85),
        rotations=rotations,
        betas=betas,
        keypoints2d=keypoints2d,
        keypoints3d=keypoints3d,
    )


def test_encoder_losses_combine_final_iteration_and_all_iterations_for_adversary():
    eye = torch.eye(3).expand(1, 24, 3, 3)
    zeros2d = torch.zeros(1, 19, 2)
    first = _output(eye, torch.full((1, 10), 1.0), zeros2d + 5.0, torch.zeros(1, 19, 3))
    last = _output(eye, torch.zeros(1, 10), zeros2d + 0.5, torch.zeros(1, 19, 3))
    target = torch.cat([torch.zeros(1, 19, 2), torch.ones(1, 19, 1)], -1)
    losses = encoder_losses(
        [first, last],
        target,
        keypoints3d=torch.zeros(1, 14, 3),
        smpl_pose=torch.zeros(1, 24, 3),
        smpl_betas=torch.zeros(1, 10),
        discriminator=_ConstantD(),
        weights=LossWeights(reprojection=2.0, keypoints3d=3.0, smpl=5.0, adversarial=7.0),
    )
    assert losses.reprojection.item() == pytest.approx(0.5)  # final iteration only
    assert losses.keypoints3d.item() == 0.0 and losses.smpl.item() == 0.0
    # identity rotations: mean of 23 × 9 entries = 1/3; betas mean 1 (first) / 0 (last)
    d_first, d_last = 1 / 3 + 1, 1 / 3
    expected_adv = (25 * (d_first - 1) ** 2 + 25 * (d_last - 1) ** 2) / 2
    assert losses.adversarial.item() == pytest.approx(expected_adv, rel=1e-5)
    assert losses.total.item() == pytest.approx(2 * 0.5 + 7 * expected_adv, rel=1e-5)


def test_iteration_losses_all_average_every_iteration():
    """Reprojection 5.0 on the first iteration's keypoints and 0.5 on the last: "all" is their
    mean (2.75); a 3D error of 1 m in one coordinate of one joint on the first only: its mean
    with 0; the adversarial term is unchanged."""
    eye = torch.eye(3).expand(1, 24, 3, 3)
    zeros2d = torch.zeros(1, 19, 2)
    wrong3d = torch.zeros(1, 19, 3)
    wrong3d[0, 0, 0] = 1.0
    first = _output(eye, torch.zeros(1, 10), zeros2d + 5.0, wrong3d)
    last = _output(eye, torch.zeros(1, 10), zeros2d + 0.5, torch.zeros(1, 19, 3))
    target = torch.cat([torch.zeros(1, 19, 2), torch.ones(1, 19, 1)], -1)
    kwargs = dict(keypoints3d=torch.zeros(1, 14, 3), discriminator=_ConstantD())
    final = encoder_losses([first, last], target, **kwargs)
    every = encoder_losses([first, last], target, iterations="all", **kwargs)
    assert every.reprojection.item() == pytest.approx((5.0 + 0.5) / 2)
    only_first = encoder_losses([first], target, **kwargs).keypoints3d.item()
    assert only_first > 0 and final.keypoints3d.item() == 0.0
    assert every.keypoints3d.item() == pytest.approx(only_first / 2)
    assert every.adversarial.item() == pytest.approx(final.adversarial.item())
    with pytest.raises(OpenHMRError, match="iteration losses"):
        encoder_losses([first, last], target, iterations="last")
    no_keypoints = _output(eye, torch.zeros(1, 10), None, None)
    with pytest.raises(OpenHMRError, match="need a body model"):
        encoder_losses([no_keypoints, last], target, iterations="all")


def test_mixed_batch_and_batch_without_3d():
    eye = torch.eye(3).expand(2, 24, 3, 3)
    out = _output(eye, torch.zeros(2, 10), torch.zeros(2, 19, 2), torch.zeros(2, 19, 3))
    target2d = torch.cat([torch.zeros(2, 19, 2), torch.ones(2, 19, 1)], -1)
    joints = torch.zeros(2, 14, 3)
    joints[1, 0, 0] = 1.0
    mixed = encoder_losses(
        [out], target2d, keypoints3d=joints, has_keypoints3d=torch.tensor([False, True])
    )
    assert mixed.keypoints3d.item() == pytest.approx(0.5 / 42)
    none = encoder_losses(
        [out], target2d, keypoints3d=joints, has_keypoints3d=torch.tensor([False, False])
    )
    assert none.keypoints3d.item() == 0.0 and none.total.item() == 0.0


def test_discriminator_losses_see_detached_predictions_of_all_iterations():
    rotations = torch.eye(3).expand(2, 24, 3, 3).clone().requires_grad_(True)
    betas = torch.zeros(2, 10, requires_grad=True)
    outputs = [_output(rotations, betas, None, None)] * 3
    d = _ConstantD()
    total, real, fake = discriminator_losses(
        d, outputs, torch.zeros(6, 24, 3), torch.ones(6, 10), LossWeights(adversarial=2.0)
    )
    # real: identity (mean 1/3) + betas mean 1 -> (4/3 − 1)² × 25; fake: (1/3)² × 25
    assert real.item() == pytest.approx(25 * (1 / 3) ** 2, rel=1e-5)
    assert fake.item() == pytest.approx(25 * (1 / 3) ** 2, rel=1e-5)
    assert total.item() == pytest.approx(2 * (real + fake).item())
    assert not total.requires_grad  # nothing reaches the encoder's outputs


def test_root_term_is_the_roots_chordal_distance_and_adds_with_its_weight():
    """The first sample's root turned by 30° about y, the rest right: its root term is
    ½ · 4 (1 − cos 30°) / 9 (the mean over the matrix's 9 numbers); a sample without SMPL
    truth counts nothing; the total adds weights.root times it, and the default weight (0)
    leaves the paper's total."""
    angle = math.radians(30)
    turned = torch.eye(3).repeat(2, 24, 1, 1)
    turned[0, 0] = torch.tensor(
        [[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]]
    )
    out = _output(turned, torch.zeros(2, 10), torch.zeros(2, 19, 2), torch.zeros(2, 19, 3))
    target = torch.cat([torch.zeros(2, 19, 2), torch.ones(2, 19, 1)], -1)
    truth = dict(smpl_pose=torch.zeros(2, 24, 3), smpl_betas=torch.zeros(2, 10))
    one = 0.5 * 4 * (1 - math.cos(angle)) / 9
    assert root_rotation_loss(turned, truth["smpl_pose"]).item() == pytest.approx(one / 2)
    only_first = torch.tensor([True, False])
    assert root_rotation_loss(turned, truth["smpl_pose"], only_first).item() == pytest.approx(one)
    assert root_rotation_loss(turned, truth["smpl_pose"], ~only_first).item() == 0.0
    plain = encoder_losses([out], target, **truth)
    weighted = encoder_losses([out], target, **truth, weights=LossWeights(root=10.0))
    assert plain.root.item() == pytest.approx(one / 2)
    assert plain.total.item() == pytest.approx(60 * plain.smpl.item())
    assert weighted.total.item() == pytest.approx(plain.total.item() + 10 * one / 2, rel=1e-6)
    # the SMPL term gives the same turn 9 of its 226 numbers
    assert plain.smpl.item() == pytest.approx(one * 9 / 226 / 2, rel=1e-5)
