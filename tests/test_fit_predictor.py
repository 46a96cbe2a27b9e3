"""`Predictor(refine=True)` and `openhmr demo --refine`: a rendered body with a known camera
(tests/test_inference.py's scene), a network forced to a wrong pose, and the true 2D keypoints
given as an array, by a keypoint source, or in an OpenPose file."""

from __future__ import annotations

import json

import numpy as np
import pytest

import openhmr
from openhmr import Discriminator, save_checkpoint
from openhmr.body.keypoints import COCOPLUS_NAMES
from openhmr.cli import main
from openhmr.errors import OpenHMRError
from openhmr.fit import COCO17_NAMES, FitConfig
from openhmr.inference import Predictor
from tests.test_inference import body, fitted_theta, forced_model, scene, silhouette_box  # noqa: F401

CONFIG = FitConfig(iterations=40, facing_candidates=2, facing_iterations=8)


@pytest.fixture(scope="module")
def wrong(scene):  # noqa: F811
    """The scene's box, and Θ with the true camera but arms and legs moved."""
    box = silhouette_box(scene["alpha"])
    theta = fitted_theta(scene, box)
    pose = theta[3:75].reshape(24, 3).copy()
    for joint, turn in (
        (16, (0, 0, -0.9)),
        (17, (0, 0, 0.9)),
        (4, (0.8, 0, 0)),
        (18, (0, -1.0, 0)),
    ):
        pose[joint] += turn
    theta[3:75] = pose.reshape(-1)
    return box, theta


def truth_keypoints(scene) -> np.ndarray:  # noqa: F811
    return np.concatenate([scene["keypoints2d"], np.ones((19, 1))], axis=1)


def keypoint_error(person, scene) -> float:  # noqa: F811
    return float(np.linalg.norm(person.keypoints2d[:, :2] - scene["keypoints2d"], axis=1).mean())


def test_refine_fits_the_given_keypoints(body, scene, wrong):  # noqa: F811
    box, theta = wrong
    plain = Predictor(forced_model(body, theta))(scene["image"], boxes=box[None])[0]
    predictor = Predictor(forced_model(body, theta), refine=True, fit_config=CONFIG)
    person = predictor(scene["image"], boxes=box[None], keypoints=truth_keypoints(scene)[None])[0]
    assert plain.fit is None and person.fit is not None and person.fit.refined
    before, after = keypoint_error(plain, scene), keypoint_error(person, scene)
    assert before > 15  # the forced pose is visibly wrong (px)
    assert after < 4  # the weak-perspective fit of a perspective rendering: a few px
    assert person.fit.error_px == pytest.approx(after, abs=1.5)
    assert person.fit.initial_error_px == pytest.approx(before, rel=0.05)
    assert np.isfinite(person.vertices).all() and person.vertices.shape == plain.vertices.shape
    record = person.to_dict()["fit"]
    assert record["layout"] == "cocoplus19" and record["refined"] is True
    assert np.array(record["keypoints"]).shape == (19, 3)


def test_a_keypoint_source_supplies_coco17(body, scene, wrong):  # noqa: F811
    box, theta = wrong
    coco = np.array([[*scene["keypoints2d"][COCOPLUS_NAMES.index(n)], 0.9] for n in COCO17_NAMES])
    calls = []

    def source(image, boxes):
        calls.append((image.shape, np.array(boxes)))
        return coco[None].repeat(len(boxes), 0)

    predictor = Predictor(
        forced_model(body, theta), refine=True, keypoint_source=source, fit_config=CONFIG
    )
    person = predictor(scene["image"], boxes=box[None])[0]
    assert len(calls) == 1 and calls[0][0] == scene["image"].shape
    np.testing.assert_allclose(calls[0][1], box[None])
    assert person.fit.layout == "coco17" and person.fit.refined
    # the hips are COCO's (calibrated elsewhere), the rest the same points: the fit lands
    assert keypoint_error(person, scene) < 8


def test_unusable_keypoints_keep_the_estimate(body, scene, wrong):  # noqa: F811
    box, theta = wrong
    plain = Predictor(forced_model(body, theta))(scene["image"], boxes=box[None])[0]
    keypoints = truth_keypoints(scene)
    keypoints[:, 2] = 0
    keypoints[3, :2] = np.nan
    predictor = Predictor(forced_model(body, theta), refine=True, fit_config=CONFIG)
    person = predictor(scene["image"], boxes=box[None], keypoints=keypoints[None])[0]
    assert not person.fit.refined and person.fit.keypoints_used == 0
    np.testing.assert_allclose(person.vertices, plain.vertices, atol=1e-5)
    np.testing.assert_allclose(person.camera, plain.camera, atol=1e-6)
    assert person.to_dict()["fit"]["error_px"] is None  # JSON-safe: no NaN


def test_refine_without_keypoints_is_a_clear_error(body, scene, wrong, monkeypatch):  # noqa: F811
    box, theta = wrong
    monkeypatch.delattr(openhmr.posenet, "MoveNet", raising=False)
    monkeypatch.delattr(openhmr.posenet, "BlazePose", raising=False)
    predictor = Predictor(forced_model(body, theta), refine=True)
    with pytest.raises(OpenHMRError, match="refinement needs 2D keypoints"):
        predictor(scene["image"], boxes=box[None])
    with pytest.raises(OpenHMRError, match="only used to refine"):
        Predictor(forced_model(body, theta))(
            scene["image"], boxes=box[None], keypoints=truth_keypoints(scene)[None]
        )
    with pytest.raises(OpenHMRError, match="1 people's keypoints for 2 boxes"):
        predictor(
            scene["image"], boxes=np.stack([box, box]), keypoints=truth_keypoints(scene)[None]
        )


def test_from_checkpoint_hands_over_the_discriminator(tmp_path, body):  # noqa: F811
    path = tmp_path / "with_d.safetensors"
    save_checkpoint(path, openhmr.HMR(width=8, hidden=32, body_model=body), Discriminator())
    refining = Predictor.from_checkpoint(path, body_model=body, refine=True)
    assert isinstance(refining.discriminator, Discriminator)
    assert Predictor.from_checkpoint(path, body_model=body).discriminator is None


def test_demo_refine_with_openpose_keypoints(tmp_path, body, scene, wrong):  # noqa: F811
    import cv2

    _, theta = wrong
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, forced_model(body, theta))
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), cv2.cvtColor(scene["image"], cv2.COLOR_RGB2BGR))
    # OpenPose BODY_25: the COCO points at their BODY_25 rows, neck and feet undetected (0)
    rows = {"nose": 0, "right_shoulder": 2, "right_elbow": 3, "right_wrist": 4,
            "left_shoulder": 5, "left_elbow": 6, "left_wrist": 7, "right_hip": 9,
            "right_knee": 10, "right_ankle": 11, "left_hip": 12, "left_knee": 13,
            "left_ankle": 14, "right_eye": 15, "left_eye": 16, "right_ear": 17,
            "left_ear": 18}  # fmt: skip
    flat = np.zeros((25, 3))
    for name, row in rows.items():
        flat[row] = [*scene["keypoints2d"][COCOPLUS_NAMES.index(name)], 0.8]
    keypoints = tmp_path / "scene_keypoints.json"
    keypoints.write_text(json.dumps({"people": [{"pose_keypoints_2d": flat.ravel().tolist()}]}))
    out = tmp_path / "out"
    argv = ["demo", str(image), "--checkpoint", str(path), "--out", str(out)]
    assert main([*argv, "--keypoints", str(keypoints), "--refine"]) == 0
    person = json.loads((out / "scene.json").read_text())["people"][0]
    assert person["fit"]["layout"] == "coco17" and person["fit"]["keypoints_used"] == 17
    assert person["fit"]["error_px"] < person["fit"]["initial_error_px"]
