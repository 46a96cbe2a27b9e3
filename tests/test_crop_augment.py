"""The crop and augmentation: image content and keypoints move together (dots drawn into an
image are found where the transformed keypoints say), flips mirror images, keypoints, 3D joints
and SMPL poses consistently (checked by re-posing the body model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openhmr.body import load_body_model
from openhmr.data.augment import (
    AugmentConfig,
    flip_joints3d,
    flip_keypoints,
    flip_pose,
    rotate_joints3d,
    rotate_pose_root,
)
from openhmr.data.crop import crop_matrix, normalize_keypoints, transform_points, warp_image
from openhmr.geometry import weak_perspective_project


def dot_image(points: np.ndarray, size=(300, 400), sigma: float = 2.5) -> np.ndarray:
    """Gaussian blobs centred at continuous-pixel points (pixel j's centre is j + 0.5),
    each in its own colour channel pattern so they can be told apart."""
    ys, xs = np.mgrid[0 : size[0], 0 : size[1]] + 0.5
    image = np.zeros((*size, 3))
    for k, (x, y) in enumerate(points):
        blob = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
        image[..., k % 3] += 255 * blob
    return np.clip(image, 0, 255).astype(np.uint8)


def centroid(image: np.ndarray, channel: int, near: np.ndarray, radius: float = 8) -> np.ndarray:
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]] + 0.5
    weight = image[..., channel].astype(np.float64)
    weight *= (xs - near[0]) ** 2 + (ys - near[1]) ** 2 < radius**2
    return np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()


@pytest.mark.parametrize("rotation", [0.0, 25.0])
def test_keypoints_follow_image_content(rotation):
    points = np.array([[120.3, 80.7], [200.6, 150.2], [260.1, 210.9]])
    image = dot_image(points)
    matrix = crop_matrix(np.array([190.0, 140.0]), scale=1.1, res=224, rotation_deg=rotation)
    crop = warp_image(image, matrix, 224)
    expected = transform_points(points, matrix)
    for k, point in enumerate(expected):
        assert np.linalg.norm(centroid(crop, k % 3, point) - point) < 0.15


def test_flip_of_crop_is_negated_normalised_x():
    points = np.array([[150.2, 100.4], [230.7, 190.1], [170.5, 240.3]])
    matrix = crop_matrix(np.array([200.0, 170.0]), scale=1.2, res=224)
    crop = warp_image(dot_image(points), matrix, 224)[:, ::-1]
    normalized = normalize_keypoints(transform_points(points, matrix), 224)
    normalized[:, 0] *= -1
    for k, n in enumerate(normalized):
        found = centroid(crop, k % 3, (n + 1) * 112)
        assert np.linalg.norm(found / 112 - 1 - n) < 0.15 / 112


@pytest.fixture(scope="module")
def body():
    return load_body_model("open", dtype=torch.float64)


def test_flipped_smpl_sample_reprojects_onto_flipped_keypoints(body):
    """Mirror a posed body's keypoints; posing the body with the flipped θ and projecting with
    the mirrored camera lands on them (sub-pixel in a 224 crop)."""
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.35, 72)
    pose[:3] = [np.pi, 0.2, 0.1]  # facing the camera, y down, as HMR's mean pose
    betas = torch.from_numpy(rng.normal(0, 1, (1, 10)))
    camera = torch.tensor([[0.9, 0.05, -0.1]], dtype=torch.float64)

    def project(theta, cam):
        out = body(pose=torch.from_numpy(theta)[None], betas=betas)
        return weak_perspective_project(out.keypoints, cam)[0].numpy(), out.keypoints[0]

    keypoints, joints = project(pose, camera)
    keypoints = np.concatenate([keypoints, np.ones((19, 1))], axis=1)
    mirrored_camera = camera * torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    flipped_projection, flipped_joints = project(flip_pose(pose), mirrored_camera)
    error_px = np.abs(flipped_projection - flip_keypoints(keypoints)[:, :2]).max() * 112
    assert error_px < 0.5
    joints4 = np.concatenate([joints.numpy()[:14], np.ones((14, 1))], axis=1)
    expected3d = flip_joints3d(joints4)[:, :3]
    assert np.abs(flipped_joints.numpy()[:14] - expected3d).max() < 0.006  # metres


def test_in_plane_rotation_turns_pose_and_joints_like_the_image(body):
    """Rotating the crop by α: the re-posed body's projected keypoints equal the original
    keypoints rotated by the crop matrix's linear part."""
    rng = np.random.default_rng(1)
    pose = rng.normal(0, 0.3, 72)
    pose[:3] = [np.pi, 0.0, 0.0]
    angle = 30.0
    theta = torch.from_numpy(np.stack([pose, rotate_pose_root(pose, angle)]))
    out = body(pose=theta)
    keypoints = out.keypoints.numpy()
    linear = crop_matrix(np.zeros(2), scale=224 / 200, res=224, rotation_deg=angle)[:, :2]
    pelvis = keypoints[:, [2, 3]].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(
        (keypoints[1] - pelvis[1])[:, :2], (keypoints[0] - pelvis[0])[:, :2] @ linear.T, atol=1e-9
    )
    joints = np.concatenate([keypoints[0, :14] - pelvis[0], np.ones((14, 1))], axis=1)
    np.testing.assert_allclose(
        rotate_joints3d(joints, angle)[:, :3], keypoints[1, :14] - pelvis[1], atol=1e-9
    )


def test_default_augmentation_is_the_papers():
    config = AugmentConfig()
    assert config.jitter == 20 and config.scale_range == (0.8, 1.23)
    assert config.flip_prob == 0.5 and config.rotation_deg == 0


@pytest.mark.parametrize("res", [64, 128, 224])
def test_jitter_is_a_fixed_fraction_of_the_box_at_any_resolution(tmp_path, res):
    """AugmentConfig.jitter is in pixels of the paper's 224 crop: a centre shift s moves the
    normalised keypoints by −2·s/224 whatever the network's crop side (analytic: the box is
    200·scale image pixels wide and [−1, 1] wide in normalised units)."""
    from PIL import Image

    from openhmr.data.augment import NO_AUGMENTATION, sample_augmentation
    from openhmr.data.dataset import RecordDataset
    from openhmr.data.records import RecordIndex

    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(tmp_path / "a.png")
    keypoints = np.zeros((1, 19, 3))
    keypoints[0, :, :2] = [[180.0 + 3 * k, 120.0 + 4 * k] for k in range(19)]
    keypoints[0, :, 2] = 1.0
    index = RecordIndex(
        imgname=np.array(["a.png"]),
        center=np.array([[200.0, 150.0]]),
        scale=np.array([1.3]),
        keypoints2d=keypoints,
        image_root=tmp_path,
    )
    jitter_only = AugmentConfig(scale_range=(1.0, 1.0), flip_prob=0.0, color=0.0)
    plain = RecordDataset(index, NO_AUGMENTATION, res=res, seed=4).get(0, 0)["keypoints2d"]
    moved = RecordDataset(index, jitter_only, res=res, seed=4).get(0, 0)["keypoints2d"]
    shift = sample_augmentation(jitter_only, np.random.default_rng([4, 0, 0])).shift
    assert np.abs(shift).max() > 1.0  # the draw really moves the box
    np.testing.assert_allclose(
        (moved - plain)[:, :2].numpy(), np.broadcast_to(-2 * shift / 224, (19, 2)), atol=1e-5
    )


def _standing_person() -> np.ndarray:
    """Cocoplus keypoints (19, 3) of an upright figure, arms down: y grows downwards."""
    points = {
        "right_ankle": (90, 400), "right_knee": (92, 320), "right_hip": (95, 240),
        "left_hip": (125, 240), "left_knee": (128, 320), "left_ankle": (130, 400),
        "right_wrist": (70, 250), "right_elbow": (75, 200), "right_shoulder": (85, 140),
        "left_shoulder": (135, 140), "left_elbow": (145, 200), "left_wrist": (150, 250),
        "neck": (110, 135), "head_top": (110, 80), "nose": (110, 110), "left_eye": (115, 105),
        "right_eye": (105, 105), "left_ear": (120, 108), "right_ear": (100, 108),
    }  # fmt: skip
    from openhmr.body.keypoints import COCOPLUS_NAMES

    keypoints = np.ones((19, 3))
    keypoints[:, :2] = [points[name] for name in COCOPLUS_NAMES]
    return keypoints


@pytest.mark.parametrize(("level", "low_y"), [("chest", 190.0), ("hips", 240.0), ("knees", 320.0)])
def test_truncated_box_frames_the_body_above_the_cut(level, low_y):
    """Upright figure: the box spans the head top (y 80) down to the cut (chest: halfway
    from hips 240 to shoulders 140, elbows at 200 left out; hips, wrists at 250 left out;
    knees 320), x over the kept points; side = extent · 224 / 150 (HMR's box)."""
    from openhmr.data.augment import truncated_box

    keypoints = _standing_person()
    center, scale = truncated_box(keypoints, level)
    kept_x = {"chest": (75, 145), "hips": (70, 150), "knees": (70, 150)}[level]
    extent = max(low_y - 80.0, kept_x[1] - kept_x[0])
    np.testing.assert_allclose(center, [(kept_x[0] + kept_x[1]) / 2, (80 + low_y) / 2])
    assert scale == pytest.approx(extent * 224 / 150 / 200)


def test_truncated_box_follows_the_body_axis_and_needs_the_torso():
    """An upside-down figure (image turned 180°) is cut at its own hips, so the box keeps its
    head end; without visible hips there is no truncated box."""
    from openhmr.data.augment import truncated_box

    keypoints = _standing_person()
    upside_down = keypoints.copy()
    upside_down[:, :2] = [300.0, 500.0] - keypoints[:, :2]
    center, scale = truncated_box(upside_down, "hips")
    expected_center, expected_scale = truncated_box(keypoints, "hips")
    np.testing.assert_allclose(center, [300.0, 500.0] - expected_center)
    assert scale == pytest.approx(expected_scale)
    keypoints[2, 2] = 0.0
    assert truncated_box(keypoints, "hips") is None


def test_truncation_hides_the_cut_legs_and_keeps_the_labels(tmp_path):
    """With truncation always on, the crop frames the upper body: the ankles fall outside
    (visibility 0) while the head stays in; the 3D / SMPL labels are the sample's own."""
    from PIL import Image

    from openhmr.data.dataset import RecordDataset
    from openhmr.data.records import RecordIndex

    Image.fromarray(np.zeros((500, 300, 3), np.uint8)).save(tmp_path / "a.png")
    keypoints = _standing_person()[None]
    pose = np.linspace(-0.3, 0.3, 72)[None]
    index = RecordIndex(
        imgname=np.array(["a.png"]), center=np.array([[110.0, 240.0]]), scale=np.array([2.4]),
        keypoints2d=keypoints, image_root=tmp_path, pose=pose, betas=np.ones((1, 10)),
        has_smpl=np.array([True]),
    )  # fmt: skip
    still = AugmentConfig(jitter=0.0, scale_range=(1.0, 1.0), flip_prob=0.0, color=0.0)
    whole = RecordDataset(index, still, res=224, seed=1).get(0, 0)
    cut = RecordDataset(index, AugmentConfig(**{**still.__dict__, "truncation_prob": 1.0}),
                        res=224, seed=1).get(0, 0)  # fmt: skip
    assert whole["keypoints2d"][:, 2].all()
    ankles = [0, 5]
    assert not cut["keypoints2d"][ankles, 2].any()
    assert cut["keypoints2d"][13, 2] == 1  # head top
    np.testing.assert_array_equal(cut["pose"].numpy(), whole["pose"].numpy())
    np.testing.assert_array_equal(cut["betas"].numpy(), whole["betas"].numpy())


def test_truncation_draw_leaves_the_other_draws_alone():
    """Turning truncation on changes no other draw of a sample (its draws come last)."""
    from openhmr.data.augment import sample_augmentation

    on = sample_augmentation(AugmentConfig(truncation_prob=1.0), np.random.default_rng(5))
    off = sample_augmentation(AugmentConfig(), np.random.default_rng(5))
    assert on.truncation is not None and off.truncation is None
    np.testing.assert_array_equal(on.shift, off.shift)
    assert (on.scale, on.flip, on.rotation_deg) == (off.scale, off.flip, off.rotation_deg)
