"""Augmenting cached φ and labels (`openhmr.train.feature_augment`): the labels against the image
pipeline's own rotated crops, φ against the pose networks' reads of a really rotated crop,
the parts that must not move, the draws, and the config checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openhmr.data.augment import AugmentConfig, sample_augmentation
from openhmr.data.crop import crop_matrix, warp_image
from openhmr.data.dataset import NO_AUGMENTATION, RecordDataset
from openhmr.data.records import load_index
from openhmr.errors import OpenHMRError
from openhmr.model import HMR
from openhmr.model.movenet_encoder import BLAZEPOSE_DIM, UNSEEN_SCORE
from openhmr.synth import SynthConfig, generate
from openhmr.train import load_config
from openhmr.train.feature_augment import (
    FeatureAugmentConfig,
    FeatureTransform,
    sample_feature_transform,
    transform_labels,
    transform_phi,
)
from openhmr.train.features import FEATURE_AUGMENT_STREAM, FeatureDataset


@pytest.fixture(scope="module")
def synth_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    generate(SynthConfig(out=str(folder), num=4, seed=5), progress=False)
    return load_index(folder / "synth.npz")


def test_labels_move_as_the_image_pipeline_moves_them_on_a_rotated_crop(synth_index):
    """`RecordDataset` with only rotation on: its labels of row r at lap l are the unrotated
    labels transformed by the drawn angle."""
    turning = AugmentConfig(jitter=0, scale_range=(1, 1), flip_prob=0, color=0,
                            rotation_deg=40, rotation_prob=1)  # fmt: skip
    rotated = RecordDataset(synth_index, turning, res=64, seed=3)
    plain = RecordDataset(synth_index, NO_AUGMENTATION, res=64, seed=3)
    for row in range(len(synth_index)):
        angle = sample_augmentation(turning, np.random.default_rng([3, 1, row])).rotation_deg
        assert abs(angle) > 0.5
        ours = transform_labels(plain.get(row, 1), FeatureTransform(angle, 1.0, np.zeros(2)))
        theirs = rotated.get(row, 1)
        for key in ("keypoints2d", "joints3d", "pose"):
            torch.testing.assert_close(ours[key], theirs[key], atol=1e-5, rtol=1e-5)


def test_scale_and_shift_move_the_2d_labels_only(synth_index):
    item = RecordDataset(synth_index, NO_AUGMENTATION, res=64).get(0, 0)
    moved = transform_labels(item, FeatureTransform(0.0, 1.5, np.array([0.2, -0.1])))
    expected = item["keypoints2d"][:, :2].double() * 1.5 + torch.tensor([0.2, -0.1]).double()
    torch.testing.assert_close(moved["keypoints2d"][:, :2].double(), expected, atol=1e-6, rtol=0)
    outside = expected.abs().max(dim=1).values > 1
    assert outside.any()  # this scale pushes some keypoints out of the crop: no longer visible
    assert (moved["keypoints2d"][outside, 2] == 0).all()
    assert (moved["keypoints2d"][~outside, 2] == item["keypoints2d"][~outside, 2]).all()
    for key in ("joints3d", "pose", "betas"):
        assert torch.equal(moved[key], item[key])


def test_a_mirror_moves_the_labels_as_the_image_pipelines_flip_does(synth_index):
    """`RecordDataset` flipping every crop (nothing else on) against the plain labels mirrored,
    alone and with a turn. The image pipeline turns the crop by a, then flips it; mirroring
    first, as the feature augmentation does, the same crop is the mirror turned by −a."""
    flipping = AugmentConfig(jitter=0, scale_range=(1, 1), flip_prob=1, color=0)
    both = AugmentConfig(jitter=0, scale_range=(1, 1), flip_prob=1, color=0,
                         rotation_deg=40, rotation_prob=1)  # fmt: skip
    plain = RecordDataset(synth_index, NO_AUGMENTATION, res=64, seed=3)
    for config in (flipping, both):
        theirs_set = RecordDataset(synth_index, config, res=64, seed=3)
        for row in range(len(synth_index)):
            angle = sample_augmentation(config, np.random.default_rng([3, 1, row])).rotation_deg
            transform = FeatureTransform(-angle, 1.0, np.zeros(2), mirror=True)
            ours, theirs = transform_labels(plain.get(row, 1), transform), theirs_set.get(row, 1)
            for key in ("keypoints2d", "joints3d", "pose"):
                torch.testing.assert_close(ours[key], theirs[key], atol=1e-5, rtol=1e-5)
            assert not torch.allclose(ours["pose"], plain.get(row, 1)["pose"])


def _mirror_then_move_by_hand(phi: torch.Tensor, transform: FeatureTransform) -> torch.Tensor:
    """One point at a time: swap left and right by name with x ↦ −x (world x too), then
    p ↦ k R p + d for seen keypoints and the landmarks, world x, y by R alone."""
    from openhmr.body.keypoints import COCO17_NAMES
    from openhmr.posenet.blazepose import LANDMARK_NAMES

    def other(names, name):
        return names.index(name.replace("left", "L").replace("right", "left").replace("L", "right"))

    out = phi.clone()
    for k, name in enumerate(COCO17_NAMES):
        j = other(COCO17_NAMES, name)
        out[3 * j : 3 * j + 3] = phi[3 * k : 3 * k + 3] * torch.tensor([-1.0, 1.0, 1.0])
    for k, name in enumerate(LANDMARK_NAMES[:33]):
        j = other(LANDMARK_NAMES, name)
        sign = torch.tensor([-1.0, 1.0, -1.0, 1.0, 1.0, 1.0])
        out[51 + 6 * j : 57 + 6 * j] = phi[51 + 6 * k : 57 + 6 * k] * sign
    a = np.radians(transform.angle_deg)
    turn = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    moved = out.clone()
    starts = [3 * k for k in range(17) if out[3 * k + 2] >= UNSEEN_SCORE]
    starts += [51 + 6 * k for k in range(33)]
    for i in starts:
        moved[i : i + 2] = torch.as_tensor(
            transform.scale * turn @ out[i : i + 2].double().numpy() + transform.shift
        )
    for k in range(33):
        i = 51 + 6 * k + 2
        moved[i : i + 2] = torch.as_tensor(turn @ out[i : i + 2].double().numpy())
    return moved


def test_a_mirrored_and_moved_phi_against_a_point_by_point_computation():
    torch.manual_seed(1)
    phi = torch.rand(51 + BLAZEPOSE_DIM, dtype=torch.float64) * 2 - 1
    points = phi[:51].view(17, 3)
    points[:, 2] = torch.rand(17, dtype=torch.float64)
    points[points[:, 2] < UNSEEN_SCORE, :2] = 0.0
    phi[-1] = 0.9
    transform = FeatureTransform(25.0, 0.9, np.array([0.05, -0.1]), mirror=True)
    got = transform_phi(phi, "seen-keypoints+blazepose", transform)
    torch.testing.assert_close(got, _mirror_then_move_by_hand(phi, transform))
    # the mirror alone, twice, is the identity
    flip = FeatureTransform(0.0, 1.0, np.zeros(2), mirror=True)
    twice = transform_phi(transform_phi(phi, "seen-keypoints+blazepose", flip),
                          "seen-keypoints+blazepose", flip)  # fmt: skip
    torch.testing.assert_close(twice, phi)


def test_both_blazepose_readings_move_each_as_a_single_one():
    """φ with heavy's and full's readings side by side: each block moves as the point-by-point
    computation moves it alone (the same keypoints beside it)."""
    torch.manual_seed(2)
    phi = torch.rand(51 + 2 * BLAZEPOSE_DIM, dtype=torch.float64) * 2 - 1
    points = phi[:51].view(17, 3)
    points[:, 2] = torch.rand(17, dtype=torch.float64)
    points[points[:, 2] < UNSEEN_SCORE, :2] = 0.0
    phi[51 + BLAZEPOSE_DIM - 1], phi[-1] = 0.9, 0.8
    transform = FeatureTransform(-15.0, 1.1, np.array([-0.05, 0.1]), mirror=True)
    got = transform_phi(phi, "seen-keypoints+blazepose+blazepose-full", transform)
    heavy = phi[: 51 + BLAZEPOSE_DIM]
    full = torch.cat([phi[:51], phi[51 + BLAZEPOSE_DIM :]])
    expected = _mirror_then_move_by_hand(heavy, transform)
    torch.testing.assert_close(got[: 51 + BLAZEPOSE_DIM], expected)
    torch.testing.assert_close(got[51 + BLAZEPOSE_DIM :],
                               _mirror_then_move_by_hand(full, transform)[51:])  # fmt: skip
    rejected = phi.clone()
    rejected[-1] = 0.2  # full's reading rejected: it stays, heavy's still moves
    still = transform_phi(rejected, "seen-keypoints+blazepose+blazepose-full",
                          FeatureTransform(30.0, 1.0, np.zeros(2)))  # fmt: skip
    assert torch.equal(still[51 + BLAZEPOSE_DIM :], rejected[51 + BLAZEPOSE_DIM :])
    assert not torch.equal(still[51 : 51 + BLAZEPOSE_DIM], rejected[51 : 51 + BLAZEPOSE_DIM])


def test_the_mirror_is_drawn_last_so_configs_without_it_draw_as_before():
    base = FeatureAugmentConfig(rotation_deg=30.0, rotation_prob=0.6, scale=0.15, shift=0.05)
    mirroring = FeatureAugmentConfig(rotation_deg=30.0, rotation_prob=0.6, scale=0.15,
                                     shift=0.05, mirror_prob=0.5)  # fmt: skip
    mirrored = 0
    for row in range(200):
        rng = np.random.default_rng([4, 0, row])
        # the four draws of the settings before the mirror existed, by hand
        turn = rng.random() < 0.6
        angle, scale = rng.uniform(-30, 30), rng.uniform(0.85, 1.15)
        shift = rng.uniform(-0.05, 0.05, size=2)
        plain = sample_feature_transform(base, np.random.default_rng([4, 0, row]))
        assert plain.angle_deg == (angle if turn else 0.0) and plain.scale == scale
        assert np.array_equal(plain.shift, shift) and not plain.mirror
        drawn = sample_feature_transform(mirroring, np.random.default_rng([4, 0, row]))
        assert (drawn.angle_deg, drawn.scale) == (plain.angle_deg, plain.scale)
        mirrored += drawn.mirror
    assert 70 < mirrored < 130


def _photo_crop(angle: float) -> torch.Tensor:
    from PIL import Image

    from openhmr.inference.command import EXAMPLE_IMAGE

    photo = np.asarray(Image.open(EXAMPLE_IMAGE).convert("RGB"))
    side = min(photo.shape[:2])
    matrix = crop_matrix(np.array([side / 2, side / 2]), side / 200, 256, angle)
    crop = warp_image(photo, matrix, 256)
    return torch.from_numpy(crop.copy()).permute(2, 0, 1)[None].float()


@pytest.mark.slow
def test_phi_moves_as_the_networks_read_the_rotated_crop():
    """Thunder and BlazePose full on the bundled photo, and on the same crop turned by 20°:
    the transformed reading of the first is close to the second's (the networks are not
    exactly equivariant: medians within 3% of the crop, world x, y within 5 cm)."""
    model = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
                features="seen-keypoints+blazepose-full").eval()  # fmt: skip
    angle = 20.0
    with torch.no_grad():
        plain, turned = (model.encoder(_photo_crop(a))[0] for a in (0.0, angle))
    moved = transform_phi(plain, model.config.features, FeatureTransform(angle, 1.0, np.zeros(2)))
    ours, theirs = moved[:51].view(17, 3), turned[:51].view(17, 3)
    seen = (ours[:, 2] >= UNSEEN_SCORE) & (theirs[:, 2] >= UNSEEN_SCORE)
    assert seen.sum() >= 9
    assert (ours[:, :2] - theirs[:, :2]).norm(dim=1)[seen].median() < 0.03
    torch.testing.assert_close(ours[:, 2], plain[:51].view(17, 3)[:, 2])  # scores kept
    blaze_ours, blaze_theirs = moved[51:-1].view(33, 6), turned[51:-1].view(33, 6)
    shown = (blaze_ours[:, 5] > 0.5) & (blaze_theirs[:, 5] > 0.5)
    assert shown.sum() >= 15
    assert (blaze_ours[:, :2] - blaze_theirs[:, :2]).norm(dim=1)[shown].median() < 0.03
    assert (blaze_ours[:, 2:4] - blaze_theirs[:, 2:4]).norm(dim=1)[shown].median() < 0.05
    # and the untransformed reading is far off the turned one: the check can fail
    blaze_plain = plain[51:-1].view(33, 6)
    assert (blaze_plain[:, :2] - blaze_theirs[:, :2]).norm(dim=1)[shown].median() > 0.06


def test_unseen_keypoints_scores_and_a_rejected_blazepose_reading_do_not_move():
    torch.manual_seed(0)
    phi = torch.rand(51 + BLAZEPOSE_DIM) * 2 - 1
    points = phi[:51].view(17, 3)
    points[:, 2] = torch.linspace(0, 1, 17)
    unseen = points[:, 2] < UNSEEN_SCORE
    points[unseen, :2] = 0.0
    phi[-1] = 0.9
    transform = FeatureTransform(30.0, 1.2, np.array([0.1, 0.05]))
    moved = transform_phi(phi, "seen-keypoints+blazepose", transform)
    assert torch.equal(moved[:51].view(17, 3)[unseen], points[unseen])
    linear = torch.tensor(transform.linear(), dtype=phi.dtype)
    expected = points[~unseen, :2] @ linear.T + torch.tensor([0.1, 0.05])
    torch.testing.assert_close(moved[:51].view(17, 3)[~unseen, :2], expected)
    landmarks, moved_landmarks = phi[51:-1].view(33, 6), moved[51:-1].view(33, 6)
    assert torch.equal(moved_landmarks[:, 4:], landmarks[:, 4:])  # depth z and visibility
    # world x, y turn without the scale: lengths kept
    torch.testing.assert_close(moved_landmarks[:, 2:4].norm(dim=1), landmarks[:, 2:4].norm(dim=1))
    rejected = phi.clone()
    rejected[-1] = 0.2  # below the pose flag's bar: the reading is not BlazePose's
    still = transform_phi(rejected, "seen-keypoints+blazepose", transform)
    assert torch.equal(still[51:], rejected[51:])
    # "keypoints" (no hiding): every keypoint moves
    plain = transform_phi(phi[:51], "keypoints", transform)
    torch.testing.assert_close(
        plain.view(17, 3)[:, :2], points[:, :2] @ linear.T + torch.tensor([0.1, 0.05])
    )


def test_cached_rows_get_fresh_deterministic_draws_every_lap(tmp_path):
    phi = torch.zeros(2, 51)
    phi.view(2, 17, 3)[..., 0] = 0.5
    phi.view(2, 17, 3)[..., 2] = 0.9
    path = _write_cache(tmp_path / "c.npz", phi)
    augment = FeatureAugmentConfig(rotation_deg=30.0, scale=0.1, shift=0.05)
    data = FeatureDataset(path, "keypoints", augment, seed=4)
    first, again, other = data.get(1, 0), data.get(1, 0), data.get(1, 1)
    assert torch.equal(first["features"], again["features"])
    assert not torch.equal(first["features"], other["features"])
    assert not torch.equal(first["features"], phi[1])
    assert torch.equal(FeatureDataset(path, "keypoints").get(1, 0)["features"], phi[1])
    with pytest.raises(OpenHMRError, match="hold none"):
        FeatureDataset(path, "pooled", augment)
    # mirrored draws: the same row's laps see both sides, each as transform_phi gives it
    mirroring = FeatureDataset(path, "keypoints", FeatureAugmentConfig(mirror_prob=0.5), seed=4)
    sides = set()
    for lap in range(12):
        item = mirroring.get(0, lap)
        rng = np.random.default_rng([4, lap, 0, FEATURE_AUGMENT_STREAM])
        draw = sample_feature_transform(FeatureAugmentConfig(mirror_prob=0.5), rng)
        torch.testing.assert_close(item["features"], transform_phi(phi[0], "keypoints", draw))
        sides.add(float(item["features"][0]))
    assert sides == {0.5, -0.5}
    with pytest.raises(OpenHMRError, match="pooled map cannot be mirrored"):
        FeatureDataset(path, "keypoints+pooled", FeatureAugmentConfig(mirror_prob=0.5))


def _write_cache(path: Path, phi: torch.Tensor) -> Path:
    import json

    from openhmr.files import write_npz

    rows = len(phi)
    identity = {"rows": rows, "laps": 1}
    write_npz(path, {
        "identity": np.array(json.dumps(identity)),
        "pooled": np.zeros((rows, 1280), np.float16),
        "keypoints": phi.view(rows, 17, 3).numpy(),
        "keypoints2d": np.zeros((rows, 19, 3), np.float32),
        "joints3d": np.zeros((rows, 14, 4), np.float32),
        "pose": np.zeros((rows, 72), np.float32),
        "betas": np.zeros((rows, 10), np.float32),
        "has_smpl": np.zeros(rows, bool),
        "has_3d": np.zeros(rows, bool),
    }, compress=False)  # fmt: skip
    return path


def test_feature_augment_settings_are_checked():
    with pytest.raises(OpenHMRError, match=r"feature_augment: unknown keys \['angle'\]"):
        load_config("configs/quick.yaml", ["data.feature_augment={angle: 3}"])
    with pytest.raises(OpenHMRError, match=r"feature_augment\.scale"):
        load_config("configs/quick.yaml", ["data.feature_augment={scale: 2}"])
    with pytest.raises(OpenHMRError, match=r"feature_augment\.mirror_prob"):
        load_config("configs/quick.yaml", ["data.feature_augment={mirror_prob: 1.5}"])
    with pytest.raises(OpenHMRError, match=r"set data\.cache_laps"):
        load_config("configs/quick.yaml", ["data.feature_augment={rotation_deg: 10}"])
