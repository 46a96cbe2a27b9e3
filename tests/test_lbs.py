"""The body model's forward pass against independent references: a naive per-vertex numpy
implementation written here, and the smplx package's `lbs` on the same random model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from openhmr.body import load_body_model
from openhmr.body.lbs import lbs
from openhmr.errors import OpenHMRError
from tests.conftest import SMPL_PARENTS


def naive_rotation(axis_angle: np.ndarray) -> np.ndarray:
    """exp([ω]×) by scipy's matrix exponential (independent of Rodrigues' formula)."""
    x, y, z = axis_angle
    return scipy.linalg.expm(np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]]))


def naive_smpl(
    arrays: dict,
    pose: np.ndarray,
    betas: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """SMPL written as plainly as possible with loops: (V, 3) vertices, (24, 3) joints."""
    v = arrays["v_template"] + np.einsum(
        "vcn,n->vc", arrays["shapedirs"][:, :, : betas.size], betas
    )
    joints = arrays["J_regressor"] @ v
    rotations = [naive_rotation(p) for p in pose]
    feature = np.concatenate([(r - np.eye(3)).ravel() for r in rotations[1:]])
    for i in range(v.shape[0]):
        v[i] = v[i] + arrays["posedirs"][i] @ feature
    world = []
    for j, parent in enumerate(SMPL_PARENTS):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = joints[j] - (joints[parent] if parent >= 0 else 0)
        world.append(local if parent < 0 else world[parent] @ local)
    skinning = []
    for j in range(24):
        a = world[j].copy()
        a[:3, 3] -= world[j][:3, :3] @ joints[j]
        skinning.append(a)
    out = np.zeros_like(v)
    for i in range(v.shape[0]):
        transform = sum(arrays["weights"][i, j] * skinning[j] for j in range(24))
        out[i] = (transform @ np.append(v[i], 1.0))[:3]
    return out, np.array([w[:3, 3] for w in world])


def random_inputs(batch: int, num_betas: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.6, (batch, 24, 3)), rng.normal(0, 1.0, (batch, num_betas))


def test_matches_naive_reference(smplx_npz, smpl_arrays):
    model = load_body_model(smplx_npz, dtype=torch.float64)
    pose, betas = random_inputs(3, 7)
    out = model(pose=torch.from_numpy(pose), betas=torch.from_numpy(betas))
    for b in range(3):
        vertices, joints = naive_smpl(smpl_arrays, pose[b], betas[b])
        np.testing.assert_allclose(out.vertices[b].numpy(), vertices, atol=1e-10)
        np.testing.assert_allclose(out.joints[b].numpy(), joints, atol=1e-10)
    regressor = np.load(smplx_npz)["keypoint_regressor"]
    np.testing.assert_allclose(out.keypoints.numpy(), regressor @ out.vertices.numpy(), atol=1e-12)


def test_matches_smplx_package(smplx_npz, smpl_arrays):
    smplx_lbs = pytest.importorskip("smplx.lbs")
    pose, betas = random_inputs(4, 10, seed=5)
    model = load_body_model(smplx_npz, dtype=torch.float32)
    ours = model(
        pose=torch.tensor(pose, dtype=torch.float32), betas=torch.tensor(betas, dtype=torch.float32)
    )
    t = {k: torch.tensor(v.astype(np.float32)) for k, v in smpl_arrays.items() if k != "f"}
    parents = torch.tensor(SMPL_PARENTS, dtype=torch.long)
    vertices, joints = smplx_lbs.lbs(
        torch.tensor(betas, dtype=torch.float32),
        torch.tensor(pose, dtype=torch.float32).flatten(1),
        t["v_template"],
        t["shapedirs"],
        t["posedirs"].reshape(-1, 207).T,
        t["J_regressor"],
        parents,
        t["weights"],
    )
    torch.testing.assert_close(ours.vertices, vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.joints, joints, atol=1e-5, rtol=0)


def test_pure_function_equals_module(smplx_npz, smpl_arrays):
    model = load_body_model(smplx_npz, dtype=torch.float64)
    pose, betas = random_inputs(2, 10, seed=7)
    out = model(pose=torch.from_numpy(pose), betas=torch.from_numpy(betas))
    t = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in smpl_arrays.items()}
    vertices, joints = lbs(
        torch.from_numpy(betas),
        out.rotations,
        t["v_template"],
        t["shapedirs"],
        t["posedirs"],
        t["J_regressor"],
        SMPL_PARENTS,
        t["weights"],
    )
    torch.testing.assert_close(out.vertices, vertices)
    torch.testing.assert_close(out.joints, joints)


def test_rotation_matrix_input_and_translation(smplx_npz):
    model = load_body_model(smplx_npz, dtype=torch.float64)
    pose, betas = random_inputs(2, 10, seed=9)
    matrices = torch.from_numpy(np.stack([[naive_rotation(p) for p in b] for b in pose]))
    transl = torch.tensor([[0.1, -0.2, 3.0], [0.0, 0.5, 2.0]], dtype=torch.float64)
    a = model(pose=torch.from_numpy(pose), betas=torch.from_numpy(betas))
    b = model(pose=matrices, betas=torch.from_numpy(betas), transl=transl)
    c = model(pose=torch.from_numpy(pose).flatten(1), betas=torch.from_numpy(betas))
    torch.testing.assert_close(b.vertices, a.vertices + transl[:, None])
    torch.testing.assert_close(b.keypoints, a.keypoints + transl[:, None])
    torch.testing.assert_close(c.vertices, a.vertices)


def test_fewer_betas_equal_zero_padding(smplx_npz):
    model = load_body_model(smplx_npz, dtype=torch.float64)
    betas = torch.randn(2, 4, dtype=torch.float64)
    padded = torch.cat([betas, torch.zeros(2, 6, dtype=torch.float64)], dim=1)
    torch.testing.assert_close(model(betas=betas).vertices, model(betas=padded).vertices)
    rest = model()
    assert rest.vertices.shape == (1, 60, 3)
    torch.testing.assert_close(rest.vertices[0], torch.from_numpy(np.load(smplx_npz)["v_template"]))


def test_float32_and_float64_agree(smplx_npz):
    pose, betas = random_inputs(2, 10, seed=11)
    m32 = load_body_model(smplx_npz, dtype=torch.float32)
    m64 = load_body_model(smplx_npz, dtype=torch.float64)
    v32 = m32(pose=torch.tensor(pose, dtype=torch.float32), betas=torch.tensor(betas).float())
    v64 = m64(pose=torch.from_numpy(pose), betas=torch.from_numpy(betas))
    assert v32.vertices.dtype == torch.float32 and v64.vertices.dtype == torch.float64
    torch.testing.assert_close(v32.vertices.double(), v64.vertices, atol=1e-5, rtol=0)


def test_gradients_in_every_input(smplx_npz):
    model = load_body_model(smplx_npz, dtype=torch.float64)
    pose, betas = random_inputs(1, 10, seed=13)
    inputs = (
        torch.from_numpy(pose).requires_grad_(),
        torch.from_numpy(betas).requires_grad_(),
        torch.tensor([[0.1, 0.2, 0.3]], dtype=torch.float64, requires_grad=True),
    )

    def forward(pose, betas, transl):
        out = model(pose=pose, betas=betas, transl=transl)
        return out.vertices[:, ::7], out.joints, out.keypoints

    assert torch.autograd.gradcheck(forward, inputs)


def test_zero_pose_gradient_is_finite(smplx_npz):
    model = load_body_model(smplx_npz, dtype=torch.float64)
    pose = torch.zeros(1, 24, 3, dtype=torch.float64, requires_grad=True)
    model(pose=pose).vertices.sum().backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(smplx_npz):
    pose, betas = random_inputs(2, 10, seed=17)
    cpu = load_body_model(smplx_npz, dtype=torch.float64)
    gpu = load_body_model(smplx_npz, dtype=torch.float64, device="cuda")
    a = cpu(pose=torch.from_numpy(pose), betas=torch.from_numpy(betas))
    b = gpu(pose=torch.from_numpy(pose).cuda(), betas=torch.from_numpy(betas).cuda())
    torch.testing.assert_close(b.vertices.cpu(), a.vertices)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pose": torch.zeros(2, 23, 3)}, "pose: expected"),
        ({"betas": torch.zeros(2, 11)}, "betas: expected"),
        ({"pose": torch.zeros(2, 24, 3), "betas": torch.zeros(3, 10)}, "batch size"),
    ],
)
def test_bad_inputs_raise_clear_errors(smplx_npz, kwargs, message):
    model = load_body_model(smplx_npz)
    with pytest.raises(OpenHMRError, match=message):
        model(**kwargs)
