"""tools/orientation_check.py: the root-orientation error and the 3D errors on bodies posed by
the open body model, with a known turn of the root."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from openhmr import load_body_model
from openhmr.errors import OpenHMRError

spec = importlib.util.spec_from_file_location(
    "orientation_check", Path(__file__).parents[1] / "tools" / "orientation_check.py"
)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def posed(pose: np.ndarray) -> np.ndarray:
    """(N, 24, 3) axis-angle → (N, 14, 3) LSP joints of the open body model, mean shape."""
    with torch.no_grad():
        out = load_body_model("open")(pose=torch.tensor(pose, dtype=torch.float32))
    return out.keypoints[:, :14].double().numpy()


def test_a_known_turn_of_the_root_is_measured_and_procrustes_removes_it():
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.2, (6, 24, 3))
    pose[:, 0] = Rotation.random(6, random_state=rng).as_rotvec()
    joints = posed(pose)
    index = SimpleNamespace(
        pose=pose.reshape(6, 72), joints3d=np.concatenate([joints, np.ones((6, 14, 1))], axis=-1)
    )
    # the truth itself: no error at all
    exact = check.orientation_scores(pose, joints, index)
    assert np.allclose(exact.root_error_deg, 0, atol=1e-3)
    assert np.allclose(exact.pa_mpjpe, 0, atol=0.05) and np.allclose(exact.mpjpe, 0, atol=0.05)
    # the same bodies turned by 120° about the camera's vertical: the root is 120° off,
    # Procrustes undoes the turn, the pelvis-aligned error does not
    turn = Rotation.from_euler("y", 120, degrees=True)
    turned_pose = pose.copy()
    turned_pose[:, 0] = (turn * Rotation.from_rotvec(pose[:, 0])).as_rotvec()
    turned = check.orientation_scores(turned_pose, posed(turned_pose), index)
    assert np.allclose(turned.root_error_deg, 120, atol=1e-3)
    assert turned.pa_mpjpe.max() < 0.5  # mm
    assert turned.mpjpe.min() > 100  # mm
    assert "within 45°   0%" in turned.summary() and "root ok    n/a" in turned.summary()


def test_an_index_without_smpl_truth_is_refused():
    index = SimpleNamespace(pose=None, joints3d=None)
    with pytest.raises(OpenHMRError, match="SMPL poses"):
        check.orientation_scores(np.zeros((1, 24, 3)), np.zeros((1, 14, 3)), index)
