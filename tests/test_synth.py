"""The synthetic generator: written 2D keypoints are the projection of the written 3D keypoints
through the written camera, which are the body model's keypoints for the written θ, β; visible
keypoints lie on the rendered body; output bytes depend only on the seed (not on workers,
not on re-runs); the pose sampler stays inside its limits."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.errors import OpenHMRError
from openhmr.synth import JOINT_LIMITS, SceneConfig, SynthConfig, generate, sample_poses


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(SynthConfig(out=str(out), num=12, seed=7, parts=True), progress=False)
    return out


def digest(folder) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_keypoints_are_projections_of_the_written_body(synth_dir):
    index = load_index(synth_dir / "synth.npz")
    focal, translation = index.extras["focal"], index.extras["translation"]
    keypoints3d = index.extras["keypoints3d"]
    # the 2D keypoints are the pinhole projection of the 3D ones (principal point at centre)
    projected = focal[:, None, None] * keypoints3d[..., :2] / keypoints3d[..., 2:3] + 112
    np.testing.assert_allclose(index.keypoints2d[..., :2], projected, atol=1e-3)
    # the 3D keypoints are the body model's, posed with the written θ, β, moved by translation
    model = load_body_model("open", dtype=torch.float64)
    out = model(
        pose=torch.from_numpy(index.pose.astype(np.float64)),
        betas=torch.from_numpy(index.betas.astype(np.float64)),
    )
    expected = out.keypoints.numpy() + translation[:, None]
    np.testing.assert_allclose(keypoints3d, expected, atol=2e-4)
    pelvis = expected[:, [2, 3]].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(index.joints3d[..., :3], (expected - pelvis)[:, :14], atol=2e-4)
    # the person is about 150 px tall, near the centre, as in the paper's crops
    extent = keypoints3d.max(1) - keypoints3d.min(1)
    assert (index.keypoints2d[..., 2].sum(axis=1) >= 1).all()
    assert (extent[:, 2] < 2.5).all()


def test_visible_keypoints_lie_on_the_rendered_body(synth_dir):
    index = load_index(synth_dir / "synth.npz")
    seen = 0
    for row, name in enumerate(index.imgname):
        parts = np.asarray(Image.open(synth_dir / "parts" / name.replace(".jpg", ".png")))
        assert parts.shape == (224, 224) and set(np.unique(parts)) <= set(range(7))
        visible = index.keypoints2d[row, :, 2] > 0
        cols = np.floor(index.keypoints2d[row, visible, 0]).astype(int)
        rows = np.floor(index.keypoints2d[row, visible, 1]).astype(int)
        assert (parts[rows, cols] > 0).all()
        seen += visible.sum()
    assert seen > 0.5 * index.keypoints2d[..., 2].size


def test_same_seed_same_bytes_whatever_workers_and_resume(tmp_path, synth_dir):
    reference = digest(synth_dir)
    out = tmp_path / "two_workers"
    generate(
        SynthConfig(out=str(out), num=12, seed=7, parts=True, chunk=5), workers=2, progress=False
    )
    assert digest(out) == reference
    (out / "images" / "0000003.jpg").unlink()
    (out / "annotations" / "0000003.npz").unlink()
    (out / "annotations" / "0000010.npz").unlink()
    generate(SynthConfig(out=str(out), num=12, seed=7, parts=True), progress=False)
    assert digest(out) == reference
    other = tmp_path / "other_seed"
    generate(SynthConfig(out=str(other), num=2, seed=8), progress=False)
    assert digest(other)["images/0000000.jpg"] != reference["images/0000000.jpg"]


def test_pose_sampler_stays_inside_limits():
    poses = sample_poses(5000, np.random.default_rng(0))
    low, high = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    assert (poses >= low).all() and (poses <= high).all()
    assert (poses[:, 0] == 0).all()
    knees = poses[:, [4, 5], 0]
    assert (knees >= 0).all() and knees.max() > 1.0  # knees bend one way only, and do bend
    # left/right limits mirror each other
    np.testing.assert_allclose(
        JOINT_LIMITS[16], np.sort(JOINT_LIMITS[17] * [[1], [-1], [-1]], axis=1)
    )


def test_bad_arguments(tmp_path):
    """Refused before any folder is made or a progress bar drawn, whatever the workers."""
    out = tmp_path / "synth"
    with pytest.raises(OpenHMRError, match="--num: expected an integer ≥ 1, got 0"):
        generate(SynthConfig(out=str(out), num=0), progress=False)
    for workers in (1, 2):
        with pytest.raises(OpenHMRError, match="backgrounds folder not found"):
            generate(
                SynthConfig(out=str(out), num=1, backgrounds=str(tmp_path / "no")),
                workers=workers,
                progress=False,
            )
        with pytest.raises(OpenHMRError, match="pose set"):
            generate(SynthConfig(out=str(out), num=1, mocap=str(tmp_path / "no.npz")), workers)
    with pytest.raises(OpenHMRError, match=r"occluder probability: expected a number in \[0, 1\]"):
        generate(SynthConfig(out=str(out), num=1, scene=SceneConfig(occluder_prob=-1)))
    (tmp_path / "file").write_text("")
    with pytest.raises(OpenHMRError, match="is a file, not a folder"):
        generate(SynthConfig(out=str(tmp_path / "file" / "synth"), num=1), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no empty images/ left


def test_poses_come_from_the_given_pose_set(tmp_path):
    from openhmr.data.mocap import PoseSet, save_pose_set

    rng = np.random.default_rng(0)
    poses = (0.3 * rng.normal(size=(5, 72))).astype(np.float32)
    save_pose_set(tmp_path / "poses.npz", PoseSet(poses, np.zeros(5, int), ("toy.bvh",)))
    generate(
        SynthConfig(out=str(tmp_path / "out"), num=6, mocap=str(tmp_path / "poses.npz")),
        progress=False,
    )
    index = load_index(tmp_path / "out" / "synth.npz")
    for pose in index.pose:  # every body pose is one of the set's (the root is the camera's)
        assert np.abs(poses[:, 3:] - pose[3:]).max(axis=1).min() < 1e-6
