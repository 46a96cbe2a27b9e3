"""Test-time views (`openhmr.model.views`, `HMRConfig.views`): the φ transforms against a
point-by-point turn and a hand-written mirror, the way back
against the projected body (an independent image-plane check), the averaged network's exact
equivariance under a mirrored input (which any wrong sign or swap breaks), the mirrored crop's
reading, the polar rotation against the SVD, ONNX export, the checkpoint round trip and the
setting errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from openhmr.body import load_body_model
from openhmr.body.keypoints import COCO17_NAMES
from openhmr.errors import OpenHMRError
from openhmr.geometry.camera import weak_perspective_project
from openhmr.geometry.rotations import axis_angle_to_matrix, mean_rotation, polar_rotation
from openhmr.model import HMR, load_checkpoint, save_checkpoint
from openhmr.model.hmr import coco17_rows
from openhmr.model.views import VIEWS, params_back, turn_matrix, view_features
from openhmr.posenet.blazepose import LANDMARK_NAMES

BODY = load_body_model("open")
FEATURES = "seen-keypoints+blazepose"


def _model(views: str = "one", features: str = FEATURES) -> HMR:
    torch.manual_seed(0)
    return HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
               features=features, feedback="keypoints", hidden=64, views=views,
               body_model=BODY, pretrained_encoder=False).eval()  # fmt: skip


def _phi(batch: int = 5, flag: float = 0.9) -> torch.Tensor:
    """φ of "seen-keypoints+blazepose": keypoints with scores on both sides of 0.2 (unseen ones
    zeroed, as the encoder gives them), landmarks, world points, visibility, pose flag."""
    g = torch.Generator().manual_seed(3)
    keypoints = torch.cat([torch.rand(batch, 17, 2, generator=g) * 1.6 - 0.8,
                           torch.rand(batch, 17, 1, generator=g)], dim=-1)  # fmt: skip
    keypoints[..., :2] *= (keypoints[..., 2:] >= 0.2).float()
    landmarks = torch.cat([torch.rand(batch, 33, 2, generator=g) * 1.6 - 0.8,
                           torch.randn(batch, 33, 3, generator=g) * 0.4,
                           torch.rand(batch, 33, 1, generator=g)], dim=-1)  # fmt: skip
    flags = torch.full((batch, 1), flag)
    flags[0] = 0.1  # a reading BlazePose rejected: zeroed, as the encoder gives it
    landmarks[0] = 0.0
    return torch.cat([keypoints.flatten(1), landmarks.flatten(1), flags], dim=1)


def _mirror_by_hand(phi: torch.Tensor) -> torch.Tensor:
    """x ↦ −x (points and world points), left and right swapped by name, one row at a time."""
    out = phi.clone()
    for row in range(len(phi)):
        for k, name in enumerate(COCO17_NAMES):
            other = COCO17_NAMES.index(name.replace("left", "L").replace("right", "left")
                                       .replace("L", "right"))  # fmt: skip
            out[row, 3 * other : 3 * other + 3] = phi[row, 3 * k : 3 * k + 3] * torch.tensor(
                [-1.0, 1.0, 1.0]
            )
        for k, name in enumerate(LANDMARK_NAMES[:33]):
            swapped = name.replace("left", "L").replace("right", "left").replace("L", "right")
            other = LANDMARK_NAMES.index(swapped)
            sign = torch.tensor([-1.0, 1.0, -1.0, 1.0, 1.0, 1.0])
            out[row, 51 + 6 * other : 57 + 6 * other] = phi[row, 51 + 6 * k : 57 + 6 * k] * sign
    return out


def test_mirror_of_phi_against_a_hand_mirror_and_twice_is_identity():
    phi = _phi()
    mirrored = view_features(phi, FEATURES, True, 0.0)
    torch.testing.assert_close(mirrored, _mirror_by_hand(phi))
    torch.testing.assert_close(view_features(mirrored, FEATURES, True, 0.0), phi)
    torch.testing.assert_close(view_features(phi, FEATURES, False, 0.0), phi)


@pytest.mark.parametrize("angle", [-20.0, 20.0, 35.0])
def test_turn_of_phi_against_a_point_by_point_turn(angle):
    """The batched turn against the formula applied to one point at a time: seen keypoints and
    the landmarks' x, y turn by R(a), world x, y too, nothing else moves."""
    phi = _phi()
    got = view_features(phi, FEATURES, False, angle)
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    want = phi.clone()
    for row in range(len(phi)):
        points = [3 * k for k in range(17) if phi[row, 3 * k + 2] >= 0.2]
        if phi[row, -1] >= 0.5:
            points += [51 + 6 * k + o for k in range(33) for o in (0, 2)]
        for i in points:
            x, y = float(phi[row, i]), float(phi[row, i + 1])
            want[row, i], want[row, i + 1] = cos * x + sin * y, -sin * x + cos * y
    torch.testing.assert_close(got, want)
    assert torch.equal(got[0, 51:], phi[0, 51:])  # a rejected reading stays zero


@pytest.mark.parametrize("mirror,turn", [(True, 0.0), (False, 20.0), (True, -20.0)])
def test_params_back_moves_the_projected_body_back_in_the_image_plane(mirror, turn):
    """Θ for a view, brought back, projects where the view's projection lands once the image
    is turned back and mirrored (the open body is left-right symmetric)."""
    torch.manual_seed(4)
    params = torch.zeros(4, 85)
    params[:, 0] = 0.9
    params[:, 1:3] = 0.1 * torch.randn(4, 2)
    params[:, 3] = 3.0
    params[:, 4:75] = 0.3 * torch.randn(4, 71)
    params[:, 75:] = torch.randn(4, 10)
    rows = coco17_rows(BODY.keypoint_names)

    def project(p: torch.Tensor) -> torch.Tensor:
        pose = axis_angle_to_matrix(p[:, 3:75].unflatten(1, (24, 3)))
        keypoints = BODY(pose=pose, betas=p[:, 75:]).keypoints[:, rows]
        return weak_perspective_project(keypoints, p[:, :3])

    view = project(params)
    want = view @ turn_matrix(turn).float()  # R(a)ᵀ p, row vectors
    if mirror:
        swap = [COCO17_NAMES.index(n.replace("left", "L").replace("right", "left")
                                   .replace("L", "right")) for n in COCO17_NAMES]  # fmt: skip
        want = want[:, swap] * torch.tensor([-1.0, 1.0])
    got = project(params_back(params, mirror, turn))
    torch.testing.assert_close(got, want, atol=2e-3, rtol=0)


@pytest.mark.parametrize("views", ["mirror", "mirror-turns"])
def test_averaged_views_are_exactly_mirror_equivariant(views):
    """The views are closed under the mirror, so the average for the mirrored φ is the mirror
    of the average: a wrong sign or swap anywhere on the way there or back breaks this, as the
    single view shows."""
    phi = _phi()
    model = _model(views)
    with torch.no_grad():
        plain = model.regress_features(phi)
        mirrored = model.regress_features(view_features(phi, FEATURES, True, 0.0))
        for a, b in zip(plain, mirrored, strict=True):
            torch.testing.assert_close(params_back(b, True, 0.0), a, atol=2e-4, rtol=1e-4)
        one = model.set_views("one").regress_features(phi)[-1]
        once_mirrored = model.regress_features(view_features(phi, FEATURES, True, 0.0))[-1]
    assert (params_back(once_mirrored, True, 0.0) - one).abs().max() > 1e-2


def test_views_average_the_single_views_and_only_when_evaluating():
    phi = _phi()
    model = _model("mirror")
    with torch.no_grad():
        averaged = model.regress_features(phi)[-1]
        single = model.set_views("one").regress_features(phi)[-1]
        mirror = params_back(model.regress_features(view_features(phi, FEATURES, True, 0.0))[-1],
                             True, 0.0)  # fmt: skip
    torch.testing.assert_close(averaged[:, :3], (single[:, :3] + mirror[:, :3]) / 2)
    torch.testing.assert_close(averaged[:, 75:], (single[:, 75:] + mirror[:, 75:]) / 2)
    both = axis_angle_to_matrix(torch.stack([single, mirror])[..., 3:75].unflatten(-1, (24, 3)))
    want = mean_rotation(both, dim=0)
    torch.testing.assert_close(
        axis_angle_to_matrix(averaged[:, 3:75].unflatten(1, (24, 3))), want, atol=1e-5, rtol=0
    )
    model.set_views("mirror").train()
    torch.manual_seed(5)
    training = model.regress_features(phi)[-1]
    torch.manual_seed(5)
    assert torch.equal(training, model._regress_once(phi)[-1])  # training reads one view


def test_flip_reads_the_mirrored_crop_and_is_mirror_equivariant():
    """ "flip": the encoder reads the crop and its mirror image; a mirrored input swaps the
    two readings, so the answer is the mirror of the original's."""
    data = Path(__file__).resolve().parent / "data" / "tfjs_movenet_lightning.npz"
    with np.load(data) as npz:  # real photographs' crops
        images = np.concatenate([npz[f"input_{i}"] for i in range(2)]).astype(np.float32)
    images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    torch.manual_seed(0)
    model = HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
                features="seen-keypoints", feedback="keypoints", hidden=64, views="flip",
                body_model=BODY).eval()  # fmt: skip
    with torch.no_grad():
        plain = model.regress(images)[-1]
        flipped = model.regress(images.flip(3))[-1]
        readings = model.encoder(torch.cat([images, images.flip(3)]))
        model.set_views("mirror")
        mirror_only = model.regress_features(readings[:2])[-1]
    torch.testing.assert_close(params_back(flipped, True, 0.0), plain, atol=2e-4, rtol=1e-4)
    assert (plain - mirror_only).abs().max() > 1e-3  # the mirrored crop's reading counts


def test_polar_rotation_equals_the_svd_mean():
    torch.manual_seed(6)
    rotations = axis_angle_to_matrix(
        torch.randn(200, 1, 3).double() * 1.5 + torch.randn(200, 6, 3).double() * 0.7
    )
    mean = rotations.mean(dim=1)
    proper = torch.linalg.det(mean) > 0
    got = polar_rotation(mean)
    torch.testing.assert_close(got[proper], mean_rotation(rotations, dim=1)[proper])
    eye = torch.eye(3, dtype=got.dtype).expand_as(got)
    torch.testing.assert_close(got.transpose(-1, -2) @ got, eye)  # every answer a rotation
    torch.testing.assert_close(torch.linalg.det(got), torch.ones(200, dtype=got.dtype))


def test_views_survive_a_checkpoint_and_old_checkpoints_read_one(tmp_path: Path):
    model = _model("mirror-turns")
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    assert load_checkpoint(path, body_model=BODY).model.config.views == "mirror-turns"
    from openhmr.inference.predictor import DEFAULT_MODEL

    assert "views" in load_checkpoint(DEFAULT_MODEL).model.config.to_dict()


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"views": "sideways"}, "expected one of"),
        ({"views": "mirror", "features": "pooled+keypoints", "feedback": "none"}, "pooled"),
        (
            {
                "views": "mirror",
                "backbone": "resnet50",
                "features": "pooled",
                "normalization": "imagenet",
                "feedback": "none",
            },
            "MoveNet",
        ),
    ],
)
def test_bad_views_are_one_clear_error(kwargs, words):
    settings = dict(
        backbone="movenet_lightning", normalization="pixels", image_size=192,
        features=FEATURES, feedback="keypoints", hidden=32, body_model=BODY,
    )  # fmt: skip
    settings.update(kwargs)
    with pytest.raises(OpenHMRError, match=words):
        HMR(**settings, pretrained_encoder=False)
    with pytest.raises(OpenHMRError, match="views"):
        _model().set_views("sideways")
    assert set(VIEWS) >= {"one", "mirror", "flip"}


def test_onnx_export_holds_the_views(tmp_path: Path):
    """The averaging is arithmetic only (no SVD), so the views and heads export with the
    network."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from openhmr.model.export import export_onnx

    torch.manual_seed(0)
    model = HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
                features="seen-keypoints", feedback="keypoints", hidden=64, views="flip",
                iterations=1,
                body_model=BODY).eval()  # fmt: skip
    other = HMR.from_config(model.config, body_model=BODY, pretrained_encoder=False)
    model = model.with_heads(other).eval()  # two heads: the ensemble's averaging exports too
    path = export_onnx(model, tmp_path / "hmr.onnx", image_size=192)
    data = Path(__file__).resolve().parent / "data" / "tfjs_movenet_lightning.npz"
    with np.load(data) as npz:
        images = np.concatenate([npz[f"input_{i}"] for i in range(3)]).astype(np.float32)
    images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # 3: not the export's 2
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        want = torch.stack(model.regress(images), dim=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_tracking_reads_one_view_unless_told(tmp_path: Path):
    """`demo --track` keeps a video's frame rate: one view whatever the checkpoint's, while
    views given explicitly stand."""
    from openhmr.video.command import tracking_predictor

    path = save_checkpoint(tmp_path / "m.safetensors", _model("flip-turns"))
    assert tracking_predictor(str(path)).model.config.views == "one"
    assert tracking_predictor(str(path), views="flip").model.config.views == "flip"


def test_the_fit_starts_from_the_crop_read_mirrored_too(tmp_path: Path):
    from openhmr.inference import Predictor
    from openhmr.model.views import with_flip

    assert [with_flip(v) for v in VIEWS] == ["one", "flip", "flip-turns", "flip", "flip-turns"]
    path = save_checkpoint(tmp_path / "m.safetensors", _model("mirror-turns"))
    assert Predictor.from_checkpoint(path).model.config.views == "mirror-turns"
    refining = Predictor.from_checkpoint(path, refine=True)
    assert refining.model.config.views == "flip-turns"
    told = Predictor.from_checkpoint(path, refine=True, views="mirror")
    assert told.model.config.views == "mirror"


def test_heads_average_every_head_and_view_like_a_naive_chordal_mean(tmp_path: Path):
    """An ensemble (`HMR.with_heads`) averages Θ over every head and every view at once:
    against each network run alone on each view, brought back and averaged by hand (camera and
    β arithmetic, rotations the SVD mean); it survives a checkpoint and exports to ONNX."""
    phi = _phi()
    first = _model("mirror-turns")
    torch.manual_seed(1)
    second = _model("mirror-turns")
    with torch.no_grad():
        for p in second.regressor.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # another head: other weights
    ensemble = first.with_heads(second).eval()
    assert ensemble.config.heads == 2 and ensemble.config.views == "mirror-turns"
    with torch.no_grad():
        got = ensemble.regress_features(phi)[-1]
        singles = []
        for net in (first, second):
            net.set_views("one")
            for mirror in (False, True):
                for turn in (0.0, -20.0, 20.0):
                    moved = view_features(phi, FEATURES, mirror, turn)
                    singles.append(params_back(net.regress_features(moved)[-1], mirror, turn))
    from openhmr.model.views import TURN_DEG

    assert TURN_DEG == 20.0
    stacked = torch.stack(singles)  # 12 x B x 85
    torch.testing.assert_close(got[:, :3], stacked[..., :3].mean(0), atol=1e-5, rtol=0)
    torch.testing.assert_close(got[:, 75:], stacked[..., 75:].mean(0), atol=1e-5, rtol=0)
    want = mean_rotation(axis_angle_to_matrix(stacked[..., 3:75].unflatten(-1, (24, 3))), dim=0)
    torch.testing.assert_close(
        axis_angle_to_matrix(got[:, 3:75].unflatten(1, (24, 3))), want, atol=1e-5, rtol=0
    )
    alone = first.set_views("mirror-turns").regress_features(phi)[-1]
    assert (got - alone).abs().max() > 1e-3  # the second head counts
    path = save_checkpoint(tmp_path / "e.safetensors", ensemble)
    loaded = load_checkpoint(path, body_model=BODY).model
    assert loaded.config.heads == 2
    with torch.no_grad():
        torch.testing.assert_close(loaded.regress_features(phi)[-1], got)
    from openhmr.evaluate import mean_pose_model

    with torch.no_grad():  # every head's updates zeroed: one Θ for every φ
        mean = mean_pose_model(ensemble).regress_features(phi)[-1]
    torch.testing.assert_close(mean, mean[:1].expand_as(mean), atol=1e-5, rtol=0)
    ensemble.train()
    torch.manual_seed(5)  # the head's dropout draws
    training = ensemble.regress_features(phi)[-1]
    torch.manual_seed(5)
    assert torch.equal(training, ensemble._regress_once(phi)[-1])  # training reads head one


def test_heads_of_another_architecture_or_head_are_one_clear_error():
    other = HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
                features=FEATURES, feedback="keypoints", hidden=32, body_model=BODY,
                pretrained_encoder=False)  # fmt: skip
    with pytest.raises(OpenHMRError, match="hidden"):
        _model().with_heads(other)
    with pytest.raises(OpenHMRError, match="heads"):
        HMR(backbone="resnet50", width=8, head="spin", heads=2, pretrained_encoder=False)
    with pytest.raises(OpenHMRError, match="heads"):
        HMR(backbone="resnet50", width=8, heads=0, pretrained_encoder=False)
