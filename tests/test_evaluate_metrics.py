"""Evaluation metrics against independent hand-computed cases: Procrustes recovers a known
similarity exactly, pelvis alignment removes translation, PCK/AUC on constructed errors,
2D PCK with constructed torso/head sizes, segmentation accuracy/F1 on hand-made images, and
the crop ↔ image mapping against the dataset's own crop matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from openhmr.body.keypoints import COCOPLUS_NAMES, H36M17_NAMES, H36M17_TO_LSP14
from openhmr.data.crop import crop_matrix, normalize_keypoints, transform_points
from openhmr.errors import OpenHMRError
from openhmr.evaluate import metrics
from openhmr.evaluate.predict import crop_to_image, image_to_crop, lsp14_indices
from openhmr.geometry import axis_angle_to_matrix


def random_skeletons(batch: int = 3, joints: int = 14, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, joints, 3, generator=generator, dtype=torch.float64) * 0.3


def test_known_similarity_gives_zero_pa_mpjpe_but_not_zero_mpjpe():
    target = random_skeletons()
    rotation = axis_angle_to_matrix(torch.tensor([[0.3, -1.1, 0.7]], dtype=torch.float64))
    scale, shift = 1.7, torch.tensor([0.5, -0.2, 3.0], dtype=torch.float64)
    pred = scale * target @ rotation[0].T + shift  # pred = s R x + t
    pa = metrics.joint_errors(pred, target, "procrustes")
    assert pa.abs().max() < 1e-9
    mpjpe = metrics.mean_error(metrics.joint_errors(pred, target, "pelvis").numpy())
    assert mpjpe > 0.1


def test_pelvis_alignment_removes_translation_only():
    target = random_skeletons()
    shifted = target + torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)
    assert metrics.joint_errors(shifted, target, "pelvis").abs().max() < 1e-12
    # moving one joint by 30 mm: that joint's error is 30 mm, the hips' errors stay 0
    moved = target.clone()
    moved[:, 7, 0] += 0.030
    errors = metrics.joint_errors(moved, target, "pelvis")
    assert torch.allclose(errors[:, 7], torch.full((3,), 0.030, dtype=torch.float64))
    assert errors[:, [2, 3]].abs().max() < 1e-12


def test_masked_procrustes_ignores_invalid_joints():
    target = random_skeletons(batch=4)
    rotation = axis_angle_to_matrix(torch.tensor([[0.0, 0.9, 0.0]], dtype=torch.float64))[0]
    pred = 0.8 * target @ rotation.T + 0.1
    valid = torch.ones(4, 14, dtype=torch.bool)
    valid[1, 5] = valid[2, [0, 13]] = False
    pred[1, 5] += 5.0  # garbage where the truth is invalid
    pred[2, 0] -= 3.0
    errors = metrics.joint_errors(pred, target, "procrustes", valid)
    assert errors[valid].max() < 1e-9


def test_pck_and_auc_on_constructed_errors():
    errors = np.array([[0.0, 75.0, 200.0]])
    assert metrics.pck(errors, 150.0) == pytest.approx(2 / 3)
    # thresholds 0, 5, ..., 150: 0 mm counts from t = 0 (1/3 at t = 0..70, 15 values),
    # 75 mm from t = 75 (2/3 at t = 75..150, 16 values); 200 mm never
    expected = (15 * (1 / 3) + 16 * (2 / 3)) / 31
    assert metrics.auc(errors) == pytest.approx(expected)
    assert metrics.auc(errors) == pytest.approx(47 / 93)
    assert len(metrics.AUC_THRESHOLDS_MM) == 31
    # invalid joints are left out
    valid = np.array([[True, True, False]])
    assert metrics.pck(errors, 150.0, valid) == 1.0
    assert metrics.mean_error(errors, valid) == pytest.approx(37.5)


def test_per_joint_mean_hand_computed():
    errors = np.array([[1.0, 2.0], [3.0, 10.0]])
    valid = np.array([[True, False], [True, True]])
    assert np.allclose(metrics.per_joint_mean(errors, valid), [2.0, 10.0])
    assert math.isnan(metrics.per_joint_mean(errors, np.zeros((2, 2), bool))[0])
    with pytest.raises(OpenHMRError):
        metrics.mean_error(errors, np.zeros((2, 2), bool))


def test_pck_2d_with_constructed_torso_and_head_sizes():
    truth = np.zeros((2, 14, 3))
    truth[..., 2] = 1.0
    # person 0: right shoulder (8) at (0, 0), left hip (3) at (60, 80) -> torso 100 px
    truth[0, 3, :2] = (60.0, 80.0)
    # person 1: torso 50 px; its neck (12) - head top (13) = 20 px
    truth[1, 3, :2] = (30.0, 40.0)
    truth[1, 12, :2], truth[1, 13, :2] = (0.0, 100.0), (0.0, 80.0)
    size, ok = metrics.torso_size(truth)
    assert np.allclose(size, [100.0, 50.0]) and ok.all()
    pred = truth[..., :2].copy()
    pred[0, 0, 0] += 19.0  # within 0.2 * 100
    pred[0, 1, 0] += 21.0  # outside
    pred[1, 0, 1] += 9.0  # within 0.2 * 50
    pred[1, 1, 1] += 11.0  # outside
    truth[1, 2, 2] = 0.0  # invisible: not counted
    pred[1, 2] += 1000.0
    score = metrics.pck_2d(pred, truth, size, ok, 0.2)
    assert score.counted.sum() == 27
    assert score.value == pytest.approx(25 / 27)
    assert score.per_joint[1] == 0.0 and score.per_joint[0] == 1.0
    head, head_ok = metrics.head_size(truth)
    assert head_ok.tolist() == [False, True] and head[1] == pytest.approx(20.0)
    pckh = metrics.pck_2d(pred, truth, head, head_ok, 0.5)  # person 0 has no head size
    assert pckh.persons == 1 and pckh.counted[0].sum() == 0
    assert pckh.value == pytest.approx(12 / 13)  # 9 px within 10, 11 px not


def test_segmentation_counts_on_hand_made_images():
    truth = np.array([[0, 0, 1, 1], [0, 2, 2, 255]])
    pred = np.array([[0, 1, 1, 0], [0, 2, 0, 0]])
    counts = metrics.segmentation_counts(pred, truth, 3)
    # rows = truth: bg {pred 0: 2, 1: 1}; class 1 {1: 1, 0: 1}; class 2 {2: 1, 0: 1}
    assert counts.confusion.tolist() == [[2, 1, 0], [1, 1, 0], [1, 0, 1]]
    assert counts.ignored_as_background == 1 and counts.total == 8
    assert counts.accuracy == pytest.approx((2 + 1 + 1 + 1) / 8)
    # F1 = 2TP / (2TP + FP + FN): bg 4/(4+2+1), class 1 2/(2+1+1), class 2 2/(2+0+1)
    assert np.allclose(counts.f1_per_class, [4 / 7, 1 / 2, 2 / 3])
    assert counts.macro_f1 == pytest.approx((4 / 7 + 1 / 2 + 2 / 3) / 3)
    both = counts + counts
    assert both.accuracy == counts.accuracy and both.total == 16
    perfect = metrics.segmentation_counts(truth.clip(0, 2), truth.clip(0, 2), 3, None)
    assert perfect.accuracy == 1.0 and perfect.macro_f1 == 1.0
    with pytest.raises(OpenHMRError):
        metrics.segmentation_counts(pred[:, :3], truth, 3)
    with pytest.raises(OpenHMRError):
        metrics.segmentation_counts(pred + 5, truth, 3)


def test_crop_mapping_matches_the_dataset_crop():
    rng = np.random.default_rng(0)
    center, scale = rng.uniform(100, 300, (3, 2)), rng.uniform(0.5, 2.0, 3)
    points = rng.uniform(0, 400, (3, 5, 2))
    expected = np.stack(
        [
            normalize_keypoints(transform_points(points[i], crop_matrix(center[i], scale[i])))
            for i in range(3)
        ]
    )
    assert np.allclose(image_to_crop(points, center, scale), expected)
    assert np.allclose(crop_to_image(expected, center, scale), points)


def test_lsp14_joint_sets():
    assert lsp14_indices(COCOPLUS_NAMES) == list(range(14))
    assert lsp14_indices(H36M17_NAMES) == list(H36M17_TO_LSP14)
    # SPIN's constants.H36M_TO_J14, the mapping its J_regressor_h36m rows need
    assert list(H36M17_TO_LSP14) == [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]
    with pytest.raises(OpenHMRError):
        lsp14_indices(tuple(f"k{i}" for i in range(24)))
    with pytest.raises(OpenHMRError):
        metrics.joint_errors(random_skeletons(), random_skeletons()[:, :5], "pelvis")
    with pytest.raises(OpenHMRError):
        metrics.joint_errors(random_skeletons(), random_skeletons(), "rigid")


def test_root_orientation_errors_are_the_angle_between_the_two_roots():
    from scipy.spatial.transform import Rotation

    from openhmr.evaluate.metrics import root_orientation_errors

    rng = np.random.default_rng(0)
    true = Rotation.random(5, random_state=1)
    angles = np.array([0.0, 10.0, 45.0, 120.0, 179.0])
    axes = rng.normal(size=(5, 3))
    turns = Rotation.from_rotvec(axes / np.linalg.norm(axes, axis=1, keepdims=True)
                                 * np.radians(angles)[:, None])  # fmt: skip
    pred = np.zeros((5, 24, 3))
    pred[:, 0] = (turns * true).as_rotvec()
    np.testing.assert_allclose(root_orientation_errors(pred, true.as_rotvec()), angles, atol=1e-4)


def test_posture_of_known_bodies():
    """The open model's rest body turned to face the camera (a half turn about x: camera axes
    have y down): its face points along its own ear → nose line, the model's 11° down-tilt
    off the camera axis, here computed from the rest keypoints; its straight legs hang
    within a few degrees of the torso. Knees bent by a right angle (about the body's x)
    swing the shins ~90° from it; a head tipped back 40° lifts the face from 11° below the
    camera axis to 29° above it."""
    import math

    from openhmr.body import COCOPLUS_NAMES, load_body_model
    from openhmr.evaluate.posture import posture

    body = load_body_model("open")
    k = {name: i for i, name in enumerate(COCOPLUS_NAMES)}
    rest = body(pose=torch.zeros(1, 24, 3), betas=torch.zeros(1, 10)).keypoints[0].numpy()
    forward = rest[k["nose"]] - (rest[k["left_ear"]] + rest[k["right_ear"]]) / 2
    tilt = np.degrees(np.arctan2(abs(forward[1]), forward[2]))
    poses = torch.zeros(3, 24, 3)
    poses[:, 0, 0] = math.pi
    poses[1, [4, 5], 0] = math.pi / 2  # knees
    poses[2, 15, 0] = -math.radians(40)  # head back
    with torch.no_grad():
        keypoints = body(pose=poses, betas=torch.zeros(3, 10)).keypoints.numpy()
    reading = posture(keypoints)
    assert reading.face_deg[0] == pytest.approx(tilt, abs=0.1)
    assert reading.shin_deg[0].max() < 8
    assert np.all(np.abs(reading.shin_deg[1] - 90) < 8)
    assert reading.face_deg[2] == pytest.approx(40 - tilt, abs=1)
