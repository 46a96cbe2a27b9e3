"""Rotations against scipy's Rotation (a peer library), 6D layouts against their published
formulas, cameras against direct projection, Procrustes against known transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from openhmr.errors import OpenHMRError
from openhmr.geometry import (
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    crop_to_full_perspective,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    perspective_project,
    procrustes_align,
    procrustes_transform,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    rotation_angle,
    weak_perspective_project,
)


def random_rotvecs(n: int, seed: int = 0) -> np.ndarray:
    """Angles over (0, π), plus the hard cases: zero, tiny, and exactly/nearly π."""
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0, math.pi, n)
    angles[:4] = [0.0, 1e-8, math.pi, math.pi - 1e-5]
    return axes * angles[:, None]


def test_axis_angle_to_matrix_matches_scipy():
    rotvecs = random_rotvecs(200)
    ours = axis_angle_to_matrix(torch.from_numpy(rotvecs)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-12)


def test_quaternions_match_scipy():
    rotvecs = random_rotvecs(200, seed=1)
    expected = Rotation.from_rotvec(rotvecs).as_quat()[:, [3, 0, 1, 2]]  # scipy is x, y, z, w
    expected *= np.sign(expected[:, :1] + 1e-300)
    matrices = torch.from_numpy(Rotation.from_rotvec(rotvecs).as_matrix())
    q = matrix_to_quaternion(matrices).numpy()
    # q and −q are the same rotation; at w = 0 (angle π) either sign is valid
    same = np.minimum(np.abs(q - expected).max(1), np.abs(q + expected).max(1))
    assert same.max() < 1e-9
    np.testing.assert_allclose(
        quaternion_to_matrix(torch.from_numpy(q)).numpy(), matrices.numpy(), atol=1e-12
    )
    q2 = axis_angle_to_quaternion(torch.from_numpy(rotvecs)).numpy()
    same2 = np.minimum(np.abs(q2 - expected).max(1), np.abs(q2 + expected).max(1))
    assert same2.max() < 1e-9


def test_matrix_to_axis_angle_round_trip():
    rotvecs = random_rotvecs(300, seed=2)
    matrices = Rotation.from_rotvec(rotvecs).as_matrix()
    back = matrix_to_axis_angle(torch.from_numpy(matrices)).numpy()
    np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), matrices, atol=1e-9)
    # away from π the axis-angle itself is unique
    regular = np.linalg.norm(rotvecs, axis=1) < math.pi - 1e-3
    np.testing.assert_allclose(back[regular], rotvecs[regular], atol=1e-9)
    q = axis_angle_to_quaternion(torch.from_numpy(rotvecs))
    np.testing.assert_allclose(
        quaternion_to_axis_angle(q).numpy()[regular], rotvecs[regular], atol=1e-9
    )


def spin_rot6d_to_rotmat(x: np.ndarray) -> np.ndarray:
    """SPIN's published formula: x viewed as (3, 2); a1, a2 = its columns; R = [b1 b2 b3]."""
    a = x.reshape(-1, 3, 2)
    a1, a2 = a[:, :, 0], a[:, :, 1]
    b1 = a1 / np.linalg.norm(a1, axis=1, keepdims=True)
    b2 = a2 - (b1 * a2).sum(1, keepdims=True) * b1
    b2 /= np.linalg.norm(b2, axis=1, keepdims=True)
    return np.stack([b1, b2, np.cross(b1, b2)], axis=-1)


def pytorch3d_rot6d_to_rotmat(x: np.ndarray) -> np.ndarray:
    """PyTorch3D's published formula: rows b1, b2 from x[:3], x[3:], b3 = b1 × b2."""
    a1, a2 = x[:, :3], x[:, 3:]
    b1 = a1 / np.linalg.norm(a1, axis=1, keepdims=True)
    b2 = a2 - (b1 * a2).sum(1, keepdims=True) * b1
    b2 /= np.linalg.norm(b2, axis=1, keepdims=True)
    return np.stack([b1, b2, np.cross(b1, b2)], axis=-2)


@pytest.mark.parametrize(
    "layout, reference", [("columns", spin_rot6d_to_rotmat), ("rows", pytorch3d_rot6d_to_rotmat)]
)
def test_six_d_layouts(layout, reference):
    x = np.random.default_rng(3).normal(size=(50, 6))
    ours = rotation_6d_to_matrix(torch.from_numpy(x), layout=layout).numpy()
    np.testing.assert_allclose(ours, reference(x), atol=1e-12)
    matrices = torch.from_numpy(Rotation.random(20, random_state=4).as_matrix())
    six = matrix_to_rotation_6d(matrices, layout=layout)
    np.testing.assert_allclose(
        rotation_6d_to_matrix(six, layout=layout).numpy(), matrices.numpy(), atol=1e-12
    )


def test_bad_layout_and_shape_raise():
    with pytest.raises(OpenHMRError, match="layout"):
        rotation_6d_to_matrix(torch.zeros(2, 6), layout="diagonal")
    with pytest.raises(OpenHMRError, match=r"\(\.\.\., 3\)"):
        axis_angle_to_matrix(torch.zeros(2, 4))


def test_rotation_gradients():
    x = torch.from_numpy(random_rotvecs(6, seed=5)[4:]).requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (x,))
    assert torch.autograd.gradcheck(lambda r: matrix_to_axis_angle(axis_angle_to_matrix(r)), (x,))
    six = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rotation_6d_to_matrix, (six,))
    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (zero,))


def test_mean_rotation_matches_scipy_and_a_symmetric_spread():
    from openhmr.geometry import mean_rotation

    rng = np.random.default_rng(3)
    rotvecs = rng.normal(0, 0.6, (50, 4, 3))  # 50 samples of 4 joints
    matrices = axis_angle_to_matrix(torch.from_numpy(rotvecs))
    mean = mean_rotation(matrices)
    assert mean.shape == (4, 3, 3)
    for joint in range(4):
        expected = Rotation.from_rotvec(rotvecs[:, joint]).mean().as_matrix()
        np.testing.assert_allclose(mean[joint].numpy(), expected, atol=1e-9)
    # ±δ about a centre: the mean is the centre exactly
    centre = Rotation.from_rotvec([0.3, -1.2, 2.0]).as_matrix()
    deltas = rng.normal(0, 0.5, (20, 3))
    spread = [centre @ Rotation.from_rotvec(s * d).as_matrix() for d in deltas for s in (1, -1)]
    recovered = mean_rotation(torch.from_numpy(np.stack(spread)))
    np.testing.assert_allclose(recovered.numpy(), centre, atol=1e-12)
    assert torch.linalg.det(recovered) > 0


def test_weak_perspective_projection():
    points = torch.tensor([[[1.0, 2.0, 5.0], [-1.0, 0.5, -3.0]]])
    camera = torch.tensor([[2.0, 0.5, -1.0]])
    expected = torch.tensor([[[3.0, 2.0], [-1.0, -1.0]]])
    torch.testing.assert_close(weak_perspective_project(points, camera), expected)


def test_crop_camera_to_full_image_perspective():
    """Points on the body's depth plane (z = 0) land on the same pixels through both cameras;
    off-plane points differ only by perspective, shrinking with the focal length."""
    rng = np.random.default_rng(6)
    points = torch.from_numpy(rng.normal(0, 0.4, (3, 19, 3)))
    points[..., 2] = 0
    camera = torch.tensor(
        [[0.9, 0.1, -0.2], [1.2, -0.3, 0.05], [0.6, 0.0, 0.3]], dtype=torch.float64
    )
    center = torch.tensor([[300.0, 200.0], [100.0, 420.0], [640.0, 360.0]], dtype=torch.float64)
    box = torch.tensor([250.0, 120.0, 400.0], dtype=torch.float64)
    image = torch.tensor([[640.0, 480.0]] * 3, dtype=torch.float64)
    focal = 5000.0
    crop = weak_perspective_project(points, camera)  # normalised crop coordinates
    expected = center[:, None] + crop * box[:, None, None] / 2  # crop → image pixels
    translation = crop_to_full_perspective(camera, center, box, image, focal)
    projected = perspective_project(points + translation[:, None], focal, image / 2)
    torch.testing.assert_close(projected, expected, atol=1e-9, rtol=0)


def test_procrustes_recovers_known_similarity():
    rng = np.random.default_rng(7)
    source = rng.normal(size=(4, 14, 3))
    rotations = Rotation.random(4, random_state=8).as_matrix()
    scales = np.array([0.5, 1.0, 2.0, 3.3])
    shifts = rng.normal(size=(4, 3))
    target = scales[:, None, None] * source @ rotations.transpose(0, 2, 1) + shifts[:, None]
    transform = procrustes_transform(torch.from_numpy(source), torch.from_numpy(target))
    np.testing.assert_allclose(transform.rotation.numpy(), rotations, atol=1e-10)
    np.testing.assert_allclose(transform.scale.numpy(), scales, atol=1e-10)
    np.testing.assert_allclose(transform.translation.numpy(), shifts, atol=1e-10)
    aligned = procrustes_align(torch.from_numpy(source), torch.from_numpy(target))
    np.testing.assert_allclose(aligned.numpy(), target, atol=1e-10)


def test_procrustes_never_reflects_and_matches_scipy_rotation():
    """A mirrored target: the best proper rotation (det +1), as scipy's Kabsch finds it."""
    rng = np.random.default_rng(9)
    source = rng.normal(size=(1, 10, 3))
    target = source * np.array([-1.0, 1.0, 1.0])
    transform = procrustes_transform(torch.from_numpy(source), torch.from_numpy(target))
    rotation = transform.rotation[0].numpy()
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    centred_s = source[0] - source[0].mean(0)
    centred_t = target[0] - target[0].mean(0)
    expected, _ = Rotation.align_vectors(centred_t, centred_s)
    np.testing.assert_allclose(rotation, expected.as_matrix(), atol=1e-8)
    error = np.linalg.norm(
        procrustes_align(torch.from_numpy(source), torch.from_numpy(target)).numpy() - target
    )
    assert error > 0.1  # a reflection would have fit exactly


def test_procrustes_gradient():
    source = torch.randn(2, 8, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 8, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda s: procrustes_align(s, target), (source,))


def test_rotation_angle_matches_scipy_and_known_angles():
    rng = np.random.default_rng(3)
    a, b = Rotation.random(64, random_state=rng), Rotation.random(64, random_state=rng)
    expected = (a.inv() * b).magnitude()  # scipy's geodesic angle of aᵀb
    got = rotation_angle(torch.tensor(a.as_matrix()), torch.tensor(b.as_matrix()))
    assert np.allclose(got.numpy(), expected, atol=1e-6)
    # a half turn and a quarter turn about the vertical, and no turn
    yaw = Rotation.from_euler("y", [[180], [90], [0]], degrees=True).as_matrix()
    got = rotation_angle(torch.eye(3, dtype=torch.float64).expand(3, 3, 3), torch.tensor(yaw))
    assert np.allclose(got.numpy(), [math.pi, math.pi / 2, 0.0], atol=1e-6)
    with pytest.raises(OpenHMRError):
        rotation_angle(torch.eye(3), torch.eye(4))
