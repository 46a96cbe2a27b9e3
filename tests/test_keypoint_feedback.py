"""Keypoint feedback in the IEF loop (`HMRConfig.feedback` "keypoints"): each step reads where
the body at Θ_t projects against the pose network's keypoints in φ. Checked against the full
mesh posed by the body model and projected by hand, against a recording of the regressor's
loop, through a checkpoint and a training run, and for its setting errors."""

from __future__ import annotations

import pytest
import torch

from openhmr.body import load_body_model
from openhmr.body.keypoints import COCO17_NAMES
from openhmr.errors import OpenHMRError
from openhmr.model import HMR, load_checkpoint, save_checkpoint
from openhmr.model.hmr import coco17_rows
from openhmr.model.regressor import IEFRegressor, split_theta
from openhmr.train import load_config, train
from tests.test_movenet_encoder import TINY_MOVENET

BODY = load_body_model("open")


def _model(features: str = "seen-keypoints", body=BODY) -> HMR:
    return HMR(
        backbone="movenet_lightning",
        normalization="pixels",
        image_size=192,
        features=features,
        feedback="keypoints",
        body_model=body,
    ).eval()


def _phi(model: HMR, batch: int = 4) -> torch.Tensor:
    """A φ whose keypoints are plausible crop points with scores on both sides of 0.2."""
    torch.manual_seed(1)
    phi = torch.randn(batch, model.encoder.feature_dim)
    start = 1280 if "pooled" in model.config.features else 0
    points = phi[:, start : start + 51].view(batch, 17, 3)
    points[..., :2] = torch.rand(batch, 17, 2) * 1.6 - 0.8
    points[..., 2] = torch.rand(batch, 17)
    return phi


@pytest.mark.parametrize("features", ["seen-keypoints", "pooled+keypoints"])
def test_feedback_is_keypoint_minus_the_full_mesh_projection(features):
    model = _model(features)
    phi = _phi(model)
    torch.manual_seed(2)
    params = model.regressor.mean_theta.detach().expand(4, -1) + 0.2 * torch.randn(4, 85)
    camera, pose, betas = split_theta(params)
    body = BODY(pose=pose, betas=betas)  # the whole mesh, axis-angle posed by the body model
    names = list(BODY.keypoint_names)
    for n in range(4):
        for k, name in enumerate(COCO17_NAMES):
            x, y, score = (
                float(v) for v in phi[n, (1280 if "pooled" in features else 0) + 3 * k :][:3]
            )
            point = body.keypoints[n, names.index(name)]
            s, tx, ty = (float(v) for v in camera[n])
            expected = [x - s * (float(point[0]) + tx), y - s * (float(point[1]) + ty)]
            if score < 0.2:
                expected = [0.0, 0.0]
            got = model.keypoint_feedback(phi, params)[n, 2 * k : 2 * k + 2]
            torch.testing.assert_close(got, torch.tensor(expected), atol=2e-5, rtol=1e-4)


def test_each_step_reads_the_feedback_of_its_own_start():
    regressor = IEFRegressor(feature_dim=5, hidden=8, iterations=3, feedback_dim=2).eval()
    seen = []

    def feedback(theta):
        seen.append(theta.detach().clone())
        return theta[:, :2] * 0.5

    thetas = regressor(torch.randn(2, 5), feedback)
    assert len(seen) == 3
    torch.testing.assert_close(seen[0], regressor.mean_theta.expand(2, -1).detach())
    torch.testing.assert_close(seen[1], thetas[0].detach())
    torch.testing.assert_close(seen[2], thetas[1].detach())
    # the step is the paper's MLP on [φ, Θ_t, f(Θ_t)]
    phi = torch.randn(2, 5)
    theta = regressor.mean_theta.expand(2, -1)
    again = theta + regressor.step(phi, theta, theta[:, :2] * 0.5)
    torch.testing.assert_close(regressor(phi, lambda t: t[:, :2] * 0.5)[0], again)
    with pytest.raises(OpenHMRError, match="feedback function is needed"):
        regressor(phi)
    with pytest.raises(OpenHMRError, match="takes none"):
        IEFRegressor(feature_dim=5, hidden=8)(phi, feedback)


def test_heads_in_lockstep_step_as_each_head_alone():
    """Two heads stepping together, their feedback computed in one call, give what each head
    gives on its own (a hand-written loop of `step`), bit for bit; one call per iteration."""
    from openhmr.model.regressor import regress_in_lockstep

    torch.manual_seed(3)
    heads = tuple(
        IEFRegressor(feature_dim=5, hidden=8, iterations=3, feedback_dim=2).eval() for _ in range(2)
    )
    with torch.no_grad():
        heads[1].mean_theta.add_(0.1)
    phi = torch.randn(4, 5)
    calls = []

    def feedback(theta):
        calls.append(theta.shape)
        return torch.sin(theta[:, :2])

    together = regress_in_lockstep(heads, phi, feedback)
    assert calls == [(8, 85)] * 3 and [t.shape for t in together] == [(2, 4, 85)] * 3
    for h, head in enumerate(heads):
        theta = head.mean_theta.expand(4, -1)
        for t in range(3):
            theta = theta + head.step(phi, theta, torch.sin(theta[:, :2]))
            assert torch.equal(together[t][h], theta)
        assert torch.equal(head(phi, lambda x: torch.sin(x[:, :2]))[-1], theta)
    other = IEFRegressor(feature_dim=5, hidden=8, iterations=2, feedback_dim=2)
    with pytest.raises(OpenHMRError, match="same iterations"):
        regress_in_lockstep((heads[0], other), phi, feedback)


def test_the_keypoints_reach_the_estimate_through_the_feedback():
    """With fc1's φ columns zeroed, φ's keypoints still move Θ through the feedback columns;
    with those zeroed too, they do not."""
    model = _model()
    phi, moved = _phi(model), _phi(model)
    moved[:, 0:51:3] += 0.1  # every keypoint's x
    with torch.no_grad():
        model.regressor.fc1.weight[:, : model.encoder.feature_dim] = 0
        differs = model.regress_features(moved)[-1] - model.regress_features(phi)[-1]
        assert differs.abs().max() > 1e-4
        model.regressor.fc1.weight[:, -34:] = 0
        torch.testing.assert_close(
            model.regress_features(moved)[-1], model.regress_features(phi)[-1]
        )
    model.body_model = None
    with pytest.raises(OpenHMRError, match="needs a body model"):
        model.regress_features(phi)


def test_feedback_travels_with_the_checkpoint(tmp_path):
    model = _model()
    phi = _phi(model)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.safetensors", model), BODY).model
    assert loaded.config.feedback == "keypoints"
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.regress_features(phi)[-1], model.regress_features(phi)[-1]
        )


def test_feedback_settings_are_checked():
    with pytest.raises(OpenHMRError, match="MoveNet encoder whose features hold keypoints"):
        HMR(backbone="resnet50", width=8, feedback="keypoints")
    with pytest.raises(OpenHMRError, match="MoveNet encoder whose features hold keypoints"):
        HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
            features="pooled", feedback="keypoints")  # fmt: skip
    with pytest.raises(OpenHMRError, match="feedback"):
        HMR(backbone="movenet_lightning", image_size=192, features="keypoints", feedback="2d")
    with pytest.raises(OpenHMRError, match="lack COCO's nose"):
        coco17_rows(("pelvis", "left_eye"))
    with pytest.raises(OpenHMRError, match=r"model\.feedback"):
        load_config("configs/quick.yaml", ["model.feedback=keypoints"])


TINY = [  # the tiny cached MoveNet run of test_movenet_encoder, with feedback
    *TINY_MOVENET,
    "model.features=seen-keypoints",
    "model.feedback=keypoints",
    "data.cache_laps=1",
    "optim.iteration_losses=all",
    "trainer.max_steps=2",
]


def test_a_feedback_network_trains_from_the_cache_on_every_iteration(tmp_path):
    config = load_config("configs/quick.yaml", [*TINY, f"out={tmp_path}"])
    model = load_checkpoint(train(config, progress=False), BODY).model
    assert model.config.feedback == "keypoints"
    assert model.regressor.fc1.in_features == model.encoder.feature_dim + 85 + 34
    with pytest.raises(OpenHMRError, match=r"optim\.iteration_losses"):
        load_config("configs/quick.yaml", ["optim.iteration_losses=first"])
