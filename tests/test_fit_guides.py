"""The fit's 3D and silhouette terms (openhmr.fit.guides, objective.world_term /
silhouette_term) against independent references: weighted Procrustes against repeated points,
the 3D term's gradient against finite differences of the re-aligned objective, the silhouette
term against a brute-force distance computation, crop resampling against a per-pixel loop, and
fits of known bodies whose 3D landmarks resolve what 2D keypoints leave open."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from openhmr.body import load_body_model
from openhmr.body.keypoint_model import KeypointModel
from openhmr.body.limits import JOINT_LIMITS
from openhmr.errors import OpenHMRError
from openhmr.fit import FitConfig, FitGuides, PoseEvidence, body_matrix, fit_keypoints
from openhmr.fit.guides import evidence_in_crops, silhouette_targets, world_tensors
from openhmr.fit.objective import silhouette_term, world_term
from openhmr.geometry import (
    axis_angle_to_matrix,
    procrustes_align,
    procrustes_transform,
    weak_perspective_project,
)


@pytest.fixture(scope="module")
def body():
    return load_body_model("open")


def random_rotation(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return axis_angle_to_matrix(torch.randn(1, 3, generator=g, dtype=torch.float64))[0]


def test_weighted_procrustes_equals_repeated_points():
    g = torch.Generator().manual_seed(0)
    source = torch.randn(1, 9, 3, generator=g, dtype=torch.float64)
    target = (
        1.7 * source @ random_rotation(1).T
        + 0.3
        + 0.05 * torch.randn(1, 9, 3, generator=g, dtype=torch.float64)
    )
    counts = torch.tensor([[1, 2, 3, 0, 1, 2, 1, 3, 1]])
    weighted = procrustes_transform(source, target, counts.double())
    repeat = counts[0]
    plain = procrustes_transform(
        source[0].repeat_interleave(repeat, 0)[None], target[0].repeat_interleave(repeat, 0)[None]
    )
    for a, b in zip(
        (weighted.scale, weighted.rotation, weighted.translation),
        (plain.scale, plain.rotation, plain.translation),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def test_procrustes_without_rotation_recovers_scale_and_shift():
    g = torch.Generator().manual_seed(2)
    source = torch.randn(3, 7, 3, generator=g, dtype=torch.float64)
    target = 0.6 * source + torch.tensor([0.1, -0.2, 3.0], dtype=torch.float64)
    found = procrustes_transform(source, target, rotate=False)
    torch.testing.assert_close(found.scale, torch.full((3,), 0.6, dtype=torch.float64))
    torch.testing.assert_close(found.rotation, torch.eye(3, dtype=torch.float64).expand(3, 3, 3))
    torch.testing.assert_close(found.apply(source), target)


def test_world_term_vanishes_on_a_similar_copy():
    g = torch.Generator().manual_seed(3)
    points = torch.randn(2, 17, 3, generator=g, dtype=torch.float64)
    target = 0.8 * points @ random_rotation(4).T - 0.4
    weights = torch.rand(2, 17, generator=g, dtype=torch.float64)
    assert world_term(points, target, weights, 0.1).abs().max() < 1e-12
    # without rotation, only a scaled and shifted copy costs nothing
    assert world_term(points, target, weights, 0.1, rotate=False).min() > 0.1
    assert world_term(points, 0.8 * points - 0.4, weights, 0.1, rotate=False).max() < 1e-12


@pytest.mark.parametrize("rotate", [True, False])
def test_world_term_gradient_is_that_of_the_realigned_objective(rotate):
    """With σ large, ρ(r) ≈ r²/σ²: the least-squares case, where holding the alignment fixed
    gives the exact gradient of  min_T Σ w ‖T(X) − Y‖²  (re-aligned at every X)."""
    g = torch.Generator().manual_seed(5)
    points = torch.randn(1, 12, 3, generator=g, dtype=torch.float64)
    target = points @ random_rotation(6).T + 0.2 * torch.randn(
        1, 12, 3, generator=g, dtype=torch.float64
    )
    weights = torch.rand(1, 12, generator=g, dtype=torch.float64) + 0.1
    sigma = 1e3

    def realigned(x: torch.Tensor) -> float:
        t = procrustes_transform(x, target, weights, rotate)
        return float((weights * ((t.apply(x) - target) ** 2).sum(-1)).sum())

    x = points.clone().requires_grad_(True)
    (world_term(x, target, weights, sigma, rotate).sum() * sigma**2).backward()
    numeric = torch.zeros_like(points)
    step = 1e-6
    for k in range(12):
        for c in range(3):
            up, down = points.clone(), points.clone()
            up[0, k, c] += step
            down[0, k, c] -= step
            numeric[0, k, c] = (realigned(up) - realigned(down)) / (2 * step)
    torch.testing.assert_close(x.grad, numeric, atol=1e-5, rtol=1e-4)


def naive_silhouette(projected, mask, points, point_weights, sigma):
    """Brute force: distance from each pixel centre to the nearest mask pixel centre, read
    bilinearly at each vertex (clamped at the border); the mask points' nearest vertices."""
    side = mask.shape[0]
    centres = (np.arange(side) + 0.5) * 2 / side - 1
    on = np.argwhere(mask)  # (row, col)
    field = np.zeros((side, side))
    for r in range(side):
        for c in range(side):
            d = np.hypot(centres[on[:, 1]] - centres[c], centres[on[:, 0]] - centres[r])
            field[r, c] = d.min()
    rho = lambda d: d * d / (d * d + sigma * sigma)  # noqa: E731
    body = []
    for x, y in projected:
        u = np.clip((x + 1) * side / 2 - 0.5, 0, side - 1)
        v = np.clip((y + 1) * side / 2 - 0.5, 0, side - 1)
        c0, r0 = math.floor(u), math.floor(v)
        c1, r1 = min(c0 + 1, side - 1), min(r0 + 1, side - 1)
        a, b = u - c0, v - r0
        value = (
            field[r0, c0] * (1 - a) * (1 - b)
            + field[r0, c1] * a * (1 - b)
            + field[r1, c0] * (1 - a) * b
            + field[r1, c1] * a * b
        )
        body.append(rho(value))
    gaps = [
        rho(np.min(np.hypot(*(projected - p).T)))
        for p, w in zip(points, point_weights, strict=True)
        if w
    ]
    return np.mean(body) + np.mean(gaps)


def test_silhouette_term_equals_a_brute_force_computation():
    rng = np.random.default_rng(0)
    side = 16
    mask = np.zeros((1, side, side), np.float32)
    mask[0, 3:11, 5:9] = 1.0
    mask[0, 12:14, 2:4] = 0.8
    outside, points, weights = silhouette_targets(mask, torch.float64, torch.device("cpu"))
    assert int(weights.sum()) == 8 * 4 + 2 * 2  # fewer mask pixels than samples: all of them
    projected = rng.uniform(-1.1, 1.1, (1, 40, 2))
    found = silhouette_term(torch.as_tensor(projected), outside, points, weights, 0.1)
    expected = naive_silhouette(projected[0], mask[0] >= 0.5, points[0].numpy(),
                                weights[0].numpy(), 0.1)  # fmt: skip
    np.testing.assert_allclose(float(found[0]), expected, rtol=1e-9)
    # an empty mask costs nothing and has no gradient
    empty = silhouette_targets(np.zeros((1, side, side)), torch.float64, torch.device("cpu"))
    vertices = torch.as_tensor(projected).requires_grad_(True)
    cost = silhouette_term(vertices, *empty, 0.1)
    cost.sum().backward()
    assert float(cost.detach()) == 0 and float(vertices.grad.abs().max()) == 0


def test_mask_resampling_into_the_crop_equals_a_per_pixel_loop():
    rng = np.random.default_rng(1)
    masks = [rng.uniform(size=shape).astype(np.float32) for shape in ((50, 70), (40, 30))]
    centres = np.array([[30.0, 20.0], [5.0, 35.0]])  # the second crop runs off the image
    sides = np.array([40.0, 33.0])
    evidence = PoseEvidence(np.zeros((2, 17, 3)), masks=masks)
    found = evidence_in_crops(evidence, centres, sides, size=12).mask
    for row, mask in enumerate(masks):
        for i in range(12):
            for j in range(12):
                x = centres[row, 0] + ((j + 0.5) / 12 - 0.5) * sides[row]
                y = centres[row, 1] + ((i + 0.5) / 12 - 0.5) * sides[row]
                c, r = math.floor(x), math.floor(y)
                inside = 0 <= c < mask.shape[1] and 0 <= r < mask.shape[0]
                assert found[row, i, j] == (mask[r, c] if inside else 0.0)


def test_world_weights_drop_bad_landmarks_and_thin_people():
    world = np.zeros((2, 17, 3))
    weights = np.ones((2, 17))
    world[0, 3] = np.nan
    weights[1, 3:] = 0  # three landmarks left: too few for the term
    found, kept = world_tensors(FitGuides(world, weights), torch.float64, torch.device("cpu"))
    assert torch.isfinite(found).all()
    assert float(kept[0, 3]) == 0 and float(kept[0].sum()) == 16
    assert float(kept[1].sum()) == 0


def known_bodies(count: int, seed: int) -> dict[str, torch.Tensor]:
    """People in clearly 3D poses (limbs turned towards or away from the camera), facing it."""
    rng = np.random.default_rng(seed)
    low, high = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    pose = np.clip(rng.normal(0, 1, (count, 24, 3)) * (high - low) / 3, low, high)
    pose[:, 0] = [math.pi, 0, 0]
    return {
        "pose": torch.tensor(pose, dtype=torch.float32),
        "betas": torch.zeros(count, 10),
        "camera": torch.tensor([[0.9, 0.0, 0.1]] * count),
    }


def observed(body, truth) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The true bodies' cocoplus keypoints (B, 19, 3), their projection as 2D targets (B, 19, 3)
    with confidence 1, and their COCO-17 points in 3D (B, 17, 3), all by the full body model."""
    with torch.no_grad():
        keypoints3d = body(pose=truth["pose"], betas=truth["betas"]).keypoints
    projected = weak_perspective_project(keypoints3d, truth["camera"]).numpy()
    targets = np.concatenate([projected, np.ones((*projected.shape[:2], 1))], -1)
    coco3d = np.einsum("kj,bjc->bkc", body_matrix("coco17", "namesake"), keypoints3d.numpy())
    return keypoints3d, targets, coco3d


def test_world_landmarks_resolve_depth_that_2d_keypoints_leave_open(body):
    truth = known_bodies(6, seed=7)
    keypoints3d, targets, coco3d = observed(body, truth)
    # the landmarks in other units and axes: only their shape may matter (similarity term)
    turn = random_rotation(8).float().numpy()
    world = 0.7 * coco3d @ turn.T + np.array([0.3, -1.0, 2.0])
    guides = FitGuides(world, np.ones((6, 17)))
    start = torch.zeros(6, 24, 3)
    start[:, 0] = truth["pose"][:, 0]
    config = FitConfig(iterations=120, facing_candidates=1)

    def error(result) -> torch.Tensor:
        with torch.no_grad():
            fitted = body(pose=result.pose, betas=result.betas).keypoints[:, :14].double()
        truth14 = keypoints3d[:, :14].double()
        return (procrustes_align(fitted, truth14) - truth14).norm(dim=-1).mean(-1)

    args = (body, truth["camera"], start, torch.zeros(6, 10), targets)
    flat = error(fit_keypoints(*args, config=config))
    rotating = FitConfig(iterations=120, facing_candidates=1, world_weight=3.0, world_scale=0.1,
                         world_rotate=True)  # fmt: skip
    guided = error(fit_keypoints(*args, config=rotating, guides=guides))
    assert float(guided.mean()) < 0.6 * float(flat.mean())
    assert float(guided.mean()) < 0.035  # metres


def test_world_landmarks_without_rotation_set_the_orientation(body):
    """Facing the camera or turned away give the same 2D keypoints up to left/right; landmarks
    in the camera's axes (world_rotate False) tell them apart."""
    truth = known_bodies(4, seed=9)
    _, targets, world = observed(body, truth)
    # the estimate: the true pose, turned 0.9 of a half turn about the body's own vertical axis
    rotations = axis_angle_to_matrix(truth["pose"])
    turn = axis_angle_to_matrix(torch.tensor([[0.0, math.pi * 0.9, 0.0]]))
    rotations[:, 0] = rotations[:, 0] @ turn
    config = FitConfig(facing_candidates=1, world_weight=3.0, world_rotate=False)
    result = fit_keypoints(body, truth["camera"], rotations, truth["betas"], targets,
                           guides=FitGuides(world, np.ones((4, 17))), config=config)  # fmt: skip
    true_root = axis_angle_to_matrix(truth["pose"][:, 0])
    relative = result.rotations[:, 0].transpose(1, 2) @ true_root
    angle = torch.rad2deg(torch.arccos(((relative.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2)
                                       .clamp(-1, 1)))  # fmt: skip
    assert float(angle.max()) < 20


def test_guides_of_the_wrong_shape_are_one_clear_error(body):
    camera, pose = torch.tensor([[0.9, 0, 0]]), torch.zeros(1, 24, 3)
    keypoints = np.ones((1, 19, 3))
    with pytest.raises(OpenHMRError, match="world"):
        fit_keypoints(body, camera, pose, torch.zeros(1, 10), keypoints,
                      guides=FitGuides(np.zeros((1, 14, 3)), np.ones((1, 14))))  # fmt: skip
    with pytest.raises(OpenHMRError, match="mask"):
        fit_keypoints(body, camera, pose, torch.zeros(1, 10), keypoints,
                      guides=FitGuides(mask=np.zeros((1, 8, 9))),
                      config=FitConfig(silhouette_weight=1.0))  # fmt: skip


def test_keypoint_model_poses_extra_vertices_exactly(body):
    g = torch.Generator().manual_seed(0)
    pose, betas = 0.4 * torch.randn(2, 24, 3, generator=g), torch.randn(2, 10, generator=g)
    chosen = torch.tensor([0, 17, 4000, body.num_vertices - 1])
    out = KeypointModel(body, chosen)(pose=pose, betas=betas)
    full = body(pose=pose, betas=betas)
    torch.testing.assert_close(out.vertices, full.vertices[:, chosen], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.keypoints, full.keypoints, atol=1e-5, rtol=1e-5)
