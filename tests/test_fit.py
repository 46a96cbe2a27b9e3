"""Test-time fitting (openhmr.fit) against independent references: keypoints made by the full
body model and the geometry module's camera (not the fit's sparse keypoint path), known poses
and shapes, Procrustes-aligned 3D errors, and hand-written keypoint layouts."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from openhmr.body import load_body_model
from openhmr.body.io import read_body_model
from openhmr.body.keypoint_model import KeypointModel
from openhmr.body.keypoints import COCOPLUS_NAMES
from openhmr.body.limits import JOINT_LIMITS
from openhmr.body.model import BodyModel
from openhmr.errors import OpenHMRError
from openhmr.fit import COCO17_NAMES, FitConfig, body_matrix, fit_keypoints, read_keypoints
from openhmr.fit.keypoints import COCO17_OFFSETS, coco17_matrix
from openhmr.geometry import axis_angle_to_matrix, procrustes_align, weak_perspective_project
from openhmr.model import Discriminator

FAST = FitConfig(iterations=40, facing_candidates=1)


@pytest.fixture(scope="module")
def body():
    return load_body_model("open")


def true_bodies(body, count: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Known people: moderate poses inside the limits, root facing the camera (π about x,
    turned a little about y), shapes ~ N(0, 0.5²), cameras around the HMR mean."""
    rng = np.random.default_rng(seed)
    low, high = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    pose = np.clip(rng.normal(0, 1, (count, 24, 3)) * (high - low) / 5, low, high)
    pose[:, 0] = [math.pi, 0, 0]
    pose[:, 0, 1] = rng.uniform(-0.3, 0.3, count)
    betas = rng.normal(0, 0.5, (count, 10))
    camera = np.stack(
        [rng.uniform(0.8, 1.0, count), rng.uniform(-0.1, 0.1, count), rng.uniform(0, 0.2, count)],
        axis=1,
    )
    return {
        "pose": torch.tensor(pose, dtype=torch.float32),
        "betas": torch.tensor(betas, dtype=torch.float32),
        "camera": torch.tensor(camera, dtype=torch.float32),
    }


def project(body, truth, layout: str = "cocoplus19") -> tuple[np.ndarray, torch.Tensor]:
    """Targets (B, K, 3) with confidence 1 from the full body model, and the 3D keypoints."""
    with torch.no_grad():
        keypoints = body(pose=truth["pose"], betas=truth["betas"]).keypoints
    points = weak_perspective_project(keypoints, truth["camera"]).numpy()
    points = np.einsum("kj,bjc->bkc", body_matrix(layout), points)
    return np.concatenate([points, np.ones((*points.shape[:2], 1))], -1), keypoints


def perturbed(truth, seed: int = 1, noise: float = 0.35) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pose = truth["pose"].clone()
    pose[:, 1:] += noise * torch.randn(pose[:, 1:].shape, generator=g)
    return {
        "pose": pose,
        "betas": torch.zeros_like(truth["betas"]),
        "camera": truth["camera"] * torch.tensor([1.15, 1.0, 1.0]) + 0.05,
    }


def pa_error(body, pose, betas, truth3d) -> torch.Tensor:
    """Per-person mean Procrustes-aligned distance of the 14 LSP keypoints (metres)."""
    with torch.no_grad():
        keypoints = body(pose=pose, betas=betas).keypoints[:, :14].double()
    aligned = procrustes_align(keypoints, truth3d[:, :14].double())
    return (aligned - truth3d[:, :14].double()).norm(dim=-1).mean(-1)


def fitted_2d(body, result) -> np.ndarray:
    """The fitted bodies' cocoplus keypoints projected, computed with the full body model."""
    with torch.no_grad():
        keypoints = body(pose=result.pose, betas=result.betas).keypoints
    return weak_perspective_project(keypoints, result.camera).numpy()


def test_keypoint_model_equals_the_body_model(body, smplx_npz):
    g = torch.Generator().manual_seed(0)
    for model in (body, BodyModel(read_body_model(smplx_npz))):  # the second has correctives
        pose, betas = 0.5 * torch.randn(3, 24, 3, generator=g), torch.randn(3, 10, generator=g)
        full = model(pose=pose, betas=betas)
        sparse = KeypointModel(model)(pose=pose, betas=betas)
        torch.testing.assert_close(sparse.keypoints, full.keypoints, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(sparse.joints, full.joints)


def test_fitting_after_inference_mode(body):
    """Evaluation predicts under torch.inference_mode, then fits: nothing cached by the first
    body evaluation may be an inference tensor."""
    from openhmr.body import lbs

    lbs._cached_tree_indices.cache_clear()
    truth = true_bodies(body, 1)
    with torch.inference_mode():
        body(pose=truth["pose"], betas=truth["betas"])
    targets, _ = project(body, truth)
    result = fit_keypoints(
        body, truth["camera"], truth["pose"], truth["betas"], targets, config=FAST
    )
    assert torch.isfinite(result.pose).all()


def test_fit_recovers_the_keypoints_and_improves_3d(body):
    truth = true_bodies(body, 4)
    targets, truth3d = project(body, truth)
    start = perturbed(truth)
    config = FitConfig(iterations=80, facing_candidates=2)
    result = fit_keypoints(
        body, start["camera"], start["pose"], start["betas"], targets, config=config
    )
    before = np.linalg.norm(fitted_2d(body, SimpleNamespace(**start)) - targets[..., :2], axis=-1)
    after = np.linalg.norm(fitted_2d(body, result) - targets[..., :2], axis=-1)
    assert before.mean() > 0.05  # the start is visibly off (> 5 px of a 224 crop)
    assert after.mean() < 0.015 and after.max() < 0.05  # 1.7 px mean, 5.6 px worst
    # the reported errors are these distances (confidence 1: plain means)
    np.testing.assert_allclose(result.error.numpy(), after.mean(1), atol=1e-4)
    np.testing.assert_allclose(result.initial_error.numpy(), before.mean(1), atol=1e-4)
    assert result.refined.all()
    assert (
        pa_error(body, result.pose, result.betas, truth3d)
        < pa_error(body, start["pose"], start["betas"], truth3d)
    ).all()


@pytest.mark.parametrize("mapping", ["calibrated", "namesake"])
def test_coco17_targets_fit_through_the_mapping(body, mapping):
    truth = true_bodies(body, 2, seed=3)
    matrix = coco17_matrix(None if mapping == "calibrated" else {})
    targets, _ = project(body, truth, "cocoplus19")
    targets = np.concatenate(
        [np.einsum("kj,bjc->bkc", matrix, targets[..., :2]), np.ones((2, 17, 1))], axis=-1
    )
    start = perturbed(truth, noise=0.2)
    config = dataclasses.replace(FAST, coco17_mapping=mapping)
    result = fit_keypoints(
        body, start["camera"], start["pose"], start["betas"], targets, config=config
    )
    assert result.layout == "coco17" and result.keypoints2d.shape == (2, 17, 2)
    mapped = np.einsum("kj,bjc->bkc", matrix, fitted_2d(body, result))
    assert np.linalg.norm(mapped - targets[..., :2], axis=-1).mean() < 0.015


def test_an_outlier_barely_moves_a_robust_fit(body):
    truth = true_bodies(body, 1, seed=5)
    targets, _ = project(body, truth)
    wrist = COCOPLUS_NAMES.index("left_wrist")
    bad = targets.copy()
    bad[0, wrist, :2] += [0.8, -0.6]  # 112 px away in a 224 crop
    start = perturbed(truth, noise=0.15)
    config = FitConfig(iterations=40, facing_candidates=1)
    quadratic = FitConfig(
        iterations=40, facing_candidates=1, robust_scale=10, robust_scale_start=10
    )
    args = (body, start["camera"], start["pose"], start["betas"], bad)
    robust = fitted_2d(body, fit_keypoints(*args, config=config))
    plain = fitted_2d(body, fit_keypoints(*args, config=quadratic))
    inliers = np.arange(19) != wrist
    robust_error = np.linalg.norm(robust - targets[..., :2], axis=-1)[0]
    plain_error = np.linalg.norm(plain - targets[..., :2], axis=-1)[0]
    assert robust_error[inliers].mean() < 0.015
    assert robust_error[wrist] < 0.1  # the wrist stays near where it truly is
    assert plain_error[wrist] > 2 * robust_error[wrist]  # a quadratic loss follows the outlier


def test_missing_and_unusable_keypoints(body):
    truth = true_bodies(body, 3, seed=7)
    targets, _ = project(body, truth)
    targets[0, :5] = np.nan  # five lost keypoints: counted missing, the rest still fit
    targets[1, :, 2] = 0.0  # nothing confident: the estimate is kept
    targets[2, 3:, 2] = 0.1  # three above min_confidence only: too few
    start = perturbed(truth, noise=0.2)
    result = fit_keypoints(
        body, start["camera"], start["pose"], start["betas"], targets, config=FAST
    )
    assert result.refined.tolist() == [True, False, False]
    assert result.keypoints_used.tolist() == [14, 0, 3]
    for name in ("camera", "pose", "betas", "keypoints2d", "objective"):
        assert torch.isfinite(getattr(result, name)).all(), name
    torch.testing.assert_close(result.camera[1:], start["camera"][1:])
    torch.testing.assert_close(result.betas[1:], start["betas"][1:])
    torch.testing.assert_close(result.rotations[1:], axis_angle_to_matrix(start["pose"][1:]))
    assert math.isnan(float(result.error[1]))  # no keypoint weighs: no error to report
    assert result.iterations[1:].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("keypoints", "message"),
    [
        (np.zeros((3, 17)), "expected (N, K, 3)"),
        (np.zeros((3, 16, 3)), "cannot tell the layout"),
        (np.full((3, 17, 3), -1.0), "confidences must be ≥ 0"),
        (np.zeros((2, 17, 3)), "2 people's keypoints for 3 estimates"),
    ],
)
def test_bad_keypoints_are_clear_errors(body, keypoints, message):
    truth = true_bodies(body, 3)
    with pytest.raises(OpenHMRError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_keypoints(body, truth["camera"], truth["pose"], truth["betas"], keypoints)


def test_a_nan_estimate_is_refused(body):
    truth = true_bodies(body, 1)
    targets, _ = project(body, truth)
    truth["betas"][0, 0] = float("nan")
    with pytest.raises(OpenHMRError, match="betas has NaN"):
        fit_keypoints(body, truth["camera"], truth["pose"], truth["betas"], targets)


def test_a_batch_fits_like_each_person_alone(body):
    truth = true_bodies(body, 3, seed=11)
    targets, _ = project(body, truth)
    start = perturbed(truth)
    config = FitConfig(iterations=30, facing_candidates=2, facing_iterations=5)
    batch = fit_keypoints(
        body, start["camera"], start["pose"], start["betas"], targets, config=config
    )
    for i in range(3):
        alone = fit_keypoints(
            body,
            start["camera"][i : i + 1],
            start["pose"][i : i + 1],
            start["betas"][i : i + 1],
            targets[i : i + 1],
            config=config,
        )
        assert int(alone.iterations[0]) == int(batch.iterations[i])
        torch.testing.assert_close(alone.rotations[0], batch.rotations[i], atol=2e-4, rtol=0)
        torch.testing.assert_close(alone.camera[0], batch.camera[i], atol=2e-4, rtol=0)
        torch.testing.assert_close(alone.betas[0], batch.betas[i], atol=2e-4, rtol=0)


def test_the_angle_prior_keeps_a_knee_from_bending_backwards(body):
    # targets drawn from a body whose left knee bends backwards (outside its limits)
    truth = true_bodies(body, 1, seed=2)
    knee = 4  # SMPL left_knee; flexion is +x, its lower limit is 0
    truth["pose"][0, knee] = torch.tensor([-0.9, 0.0, 0.0])
    targets, _ = project(body, truth)
    start = {k: v.clone() for k, v in truth.items()}
    start["pose"][0, knee] = torch.tensor([0.3, 0.0, 0.0])
    # the start agrees with most targets: no agreement pull, so only the prior holds the knee
    free = FitConfig(
        iterations=60, facing_candidates=1, angle_prior_weight=0.0, agreement_pull_weight=0.0
    )
    bounded = dataclasses.replace(free, angle_prior_weight=100.0)
    args = (body, start["camera"], start["pose"], start["betas"], targets)
    without = fit_keypoints(*args, config=free).pose[0, knee, 0]
    with_prior = fit_keypoints(*args, config=bounded).pose[0, knee, 0]
    assert without < -0.5  # the data alone bend it back to where the targets came from
    assert with_prior > -0.15  # the prior holds it near its limit (0)


def test_the_adversarial_term_is_optimised(body):
    torch.manual_seed(0)
    discriminator = Discriminator()
    truth = true_bodies(body, 2, seed=4)
    targets, _ = project(body, truth)
    targets[..., 2] = 0.3  # weak keypoints: the prior matters
    start = perturbed(truth, noise=0.3)
    args = (body, start["camera"], start["pose"], start["betas"], targets)

    def score(result) -> torch.Tensor:
        with torch.no_grad():
            return ((discriminator(result.rotations[:, 1:], result.betas) - 1) ** 2).sum(1)

    off = fit_keypoints(*args, config=FitConfig(iterations=40, facing_candidates=1))
    on = fit_keypoints(
        *args,
        discriminator=discriminator,
        config=FitConfig(iterations=40, facing_candidates=1, adversarial_weight=1.0),
    )
    assert (score(on) < score(off)).all()
    assert all(not p.grad_fn and p.grad is None for p in discriminator.parameters())


def test_keypoint_layouts_read_by_name():
    rng = np.random.default_rng(0)
    # OpenPose BODY_25 and COCO-18 rows by name (OpenPose's output format documentation)
    body25 = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
              "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
              "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear",
              "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
              "right_small_toe", "right_heel"]  # fmt: skip
    coco18 = [*body25[:8], "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
              "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear"]  # fmt: skip
    for names in (body25, coco18):
        values = rng.uniform(1, 2, (2, len(names), 3))
        read, layout = read_keypoints(values)
        assert layout == "coco17" and read.shape == (2, 17, 3)
        for row, name in enumerate(COCO17_NAMES):
            np.testing.assert_array_equal(read[:, row], values[:, names.index(name)])
    read, layout = read_keypoints(np.ones((19, 3)))
    assert layout == "cocoplus19" and read.shape == (1, 19, 3)
    assert read_keypoints(np.ones((1, 14, 3)))[1] == "lsp14"
    with pytest.raises(OpenHMRError, match="layout coco17 has 17"):
        read_keypoints(np.ones((1, 19, 3)), layout="coco17")


def test_coco17_matrix_rows():
    offsets = {"hip": {"along": 0.2, "out": 0.1}, "shoulder": {"along": -0.15, "out": 0.05}}
    matrix = coco17_matrix(offsets)
    np.testing.assert_allclose(matrix.sum(1), 1.0)  # affine: commutes with the camera
    rng = np.random.default_rng(1)
    points = rng.normal(size=(19, 2))
    mapped = matrix @ points
    p = dict(zip(COCOPLUS_NAMES, points, strict=True))
    for side, other in (("left", "right"), ("right", "left")):
        hip, shoulder = p[f"{side}_hip"], p[f"{side}_shoulder"]
        expected_hip = hip + 0.2 * (shoulder - hip) + 0.1 * (hip - p[f"{other}_hip"])
        expected_shoulder = shoulder - 0.15 * (hip - shoulder)
        expected_shoulder += 0.05 * (shoulder - p[f"{other}_shoulder"])
        np.testing.assert_allclose(mapped[COCO17_NAMES.index(f"{side}_hip")], expected_hip)
        np.testing.assert_allclose(
            mapped[COCO17_NAMES.index(f"{side}_shoulder")], expected_shoulder
        )
    for name in ("nose", "left_eye", "right_ear", "left_wrist", "right_ankle", "left_knee"):
        np.testing.assert_allclose(mapped[COCO17_NAMES.index(name)], p[name])
    np.testing.assert_allclose(body_matrix("coco17"), coco17_matrix(COCO17_OFFSETS))
    np.testing.assert_allclose(
        coco17_matrix({}) @ points, points[list(map(COCOPLUS_NAMES.index, COCO17_NAMES))]
    )


def test_the_depth_pull_holds_the_estimates_depth_and_frees_the_image_plane(body):
    """With a strong depth pull the fitted keypoints keep the start's depth relative to their
    mean (read with the full body model), while the 2D still moves onto the targets; without
    it the depth moves several times further."""
    truth = true_bodies(body, 4, seed=5)
    targets, _ = project(body, truth)
    start = perturbed(truth, seed=6)

    def depth(pose, betas):
        with torch.no_grad():
            z = body(pose=pose, betas=betas).keypoints[..., 2]
        return (z - z.mean(-1, keepdim=True)).numpy()

    moved = {}
    for weight in (0.0, 100.0):
        config = dataclasses.replace(FAST, iterations=80, depth_pull_weight=weight)
        result = fit_keypoints(
            body, start["camera"], start["pose"], start["betas"], targets, config=config
        )
        shift = np.abs(depth(result.pose, result.betas) - depth(start["pose"], start["betas"]))
        error = np.linalg.norm(fitted_2d(body, result) - targets[..., :2], axis=-1).mean()
        moved[weight] = (shift.mean(), error)
    before = np.linalg.norm(
        fitted_2d(body, SimpleNamespace(**start)) - targets[..., :2], axis=-1
    ).mean()
    assert moved[0.0][0] > 4 * moved[100.0][0]  # metres of relative depth
    assert moved[100.0][1] < 0.5 * before  # the image plane still fits
    with pytest.raises(OpenHMRError, match="depth_pull_weight"):
        FitConfig(depth_pull_weight=-1.0)


def test_the_agreement_pull_keeps_agreeing_estimates_and_frees_the_others(body):
    """Person 0's estimate is the truth and its targets are the truth's projection with a
    little noise (it agrees): the agreement pull keeps its 3D near the truth, where without
    the pull the fit chases the noise.  Person 1's estimate is far off (it disagrees): its
    gate is ~0, so the fit ends where it ends without the pull.  The gate itself is
    exp(-(e / scale)^2) of the start's keypoint error, computed here from the full body
    model."""
    from openhmr.fit.fitting import _fit
    from openhmr.fit.optimize import Extras

    truth = true_bodies(body, 2, seed=11)
    targets, truth3d = project(body, truth)
    noise = np.random.default_rng(12).normal(0, 0.02, targets[..., :2].shape)
    targets[0, :, :2] += noise[0]
    start = perturbed(truth, seed=13, noise=0.6)
    for key in ("pose", "betas", "camera"):
        start[key][0] = truth[key][0]
    ended = {}
    for weight in (0.0, 30.0):
        config = dataclasses.replace(FAST, iterations=80, agreement_pull_weight=weight)
        result = fit_keypoints(
            body, start["camera"], start["pose"], start["betas"], targets, config=config
        )
        ended[weight] = (pa_error(body, result.pose, result.betas, truth3d), result.pose)
    assert ended[30.0][0][0] < 0.5 * ended[0.0][0][0]  # the agreeing estimate kept
    # the disagreeing one: the same end with or without the pull
    np.testing.assert_allclose(ended[30.0][1][1], ended[0.0][1][1], atol=0.05)
    # the gate, from the full body model's projection of the start (whose camera is the
    # truth's: the facing step keeps it) against the targets
    config = dataclasses.replace(FAST, agreement_pull_weight=1.0, agreement_scale=0.05)
    with torch.no_grad():
        keypoints = body(pose=start["pose"], betas=start["betas"]).keypoints
    projected = weak_perspective_project(keypoints, start["camera"]).numpy()
    error = np.linalg.norm(projected[0] - targets[0, :, :2], axis=-1).mean()
    weights = torch.ones(2, 19)
    with torch.enable_grad():
        *_, problem = _fit(
            KeypointModel(body), torch.as_tensor(body_matrix("cocoplus19"), dtype=torch.float32),
            torch.as_tensor(targets[..., :2], dtype=torch.float32), weights, start["camera"],
            axis_angle_to_matrix(start["pose"]), start["betas"], None, config, Extras(),
        )  # fmt: skip
    assert float(problem.agreement[0]) == pytest.approx(math.exp(-((error / 0.05) ** 2)), rel=0.05)
    assert float(problem.agreement[1]) < 1e-3
    with pytest.raises(OpenHMRError, match="agreement_scale"):
        FitConfig(agreement_scale=0.0)
    with pytest.raises(OpenHMRError, match="agreement_pull_weight"):
        FitConfig(agreement_pull_weight=-1.0)
