"""The HMR network: shapes, Θ_0, IEF arithmetic, gradients, discriminator factorisation,
torchvision-compatible names, and a small model that learns a handful of samples."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from openhmr import HMR, Discriminator, OpenHMRError, load_body_model
from openhmr.losses import LossWeights, discriminator_losses, encoder_losses
from openhmr.model.import_spin import load_imagenet_weights
from openhmr.model.resnet import ResNetV1, ResNetV2

SMALL = {"width": 8, "hidden": 64}


@pytest.fixture
def body(smplx_npz):
    return load_body_model(smplx_npz)


@pytest.mark.parametrize("backbone", ["resnet50", "resnet50_v2"])
@pytest.mark.parametrize("head", ["hmr", "spin"])
def test_output_shapes_and_dtypes(body, backbone, head):
    torch.manual_seed(0)
    model = HMR(backbone=backbone, head=head, body_model=body, **SMALL).eval()
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        outputs = model(images)
    assert len(outputs) == 3
    num_params = 85 if head == "hmr" else 157
    for out in outputs:
        assert out.params.shape == (2, num_params)
        assert out.camera.shape == (2, 3)
        assert out.pose.shape == (2, 24, 3)
        assert out.rotations.shape == (2, 24, 3, 3)
        assert out.betas.shape == (2, 10)
        assert out.vertices.shape == (2, body.num_vertices, 3)
        assert out.keypoints3d.shape == (2, 19, 3)
        assert out.keypoints2d.shape == (2, 19, 2)
        for tensor in (out.params, out.rotations, out.vertices, out.keypoints2d):
            assert tensor.dtype == torch.float32
            assert torch.isfinite(tensor).all()
        # rotations are proper rotations and agree with the axis-angle pose
        eye = torch.eye(3).expand(2, 24, 3, 3)
        assert torch.allclose(out.rotations @ out.rotations.transpose(-1, -2), eye, atol=1e-5)
        # weak perspective: x̂ = s (X_xy + t), written out
        s, t = out.camera[:, None, :1], out.camera[:, None, 1:]
        assert torch.allclose(out.keypoints2d, s * (out.keypoints3d[..., :2] + t), atol=1e-6)


def test_posing_only_the_final_iteration_keeps_the_losses_and_their_gradients(body):
    """Training poses the body for the last iteration only (pose_body="final"): the earlier
    iterations carry no body, and the encoder losses and every gradient equal the all-posed
    forward's."""
    torch.manual_seed(0)
    model = HMR(body_model=body, **SMALL).eval()
    images = torch.randn(3, 3, 64, 64)
    keypoints = torch.cat([torch.rand(3, 19, 2) * 2 - 1, torch.ones(3, 19, 1)], -1)
    joints = torch.randn(3, 14, 3)
    discriminator = Discriminator()
    grads = []
    for mode in ("all", "final"):
        model.zero_grad()
        outputs = model(images, pose_body=mode)
        assert (outputs[0].keypoints2d is None) == (mode == "final")
        assert outputs[-1].keypoints2d is not None
        losses = encoder_losses(outputs, keypoints, keypoints3d=joints, discriminator=discriminator)
        losses.total.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(OpenHMRError, match="pose_body"):
        model(images, pose_body="none")


def test_feature_dim_of_full_resnet50():
    assert ResNetV1().feature_dim == 2048
    assert ResNetV2().feature_dim == 2048
    model = HMR()
    assert model.regressor.fc1.in_features == 2048 + 85
    assert model.regressor.fc1.out_features == 1024
    assert model.regressor.fc3.out_features == 85
    assert model.regressor.dropout.p == 0.5
    assert model.regressor.iterations == 3


def test_theta0_is_stored_mean_and_default_mean():
    torch.manual_seed(0)
    model = HMR(**SMALL).eval()
    expected = torch.zeros(85)
    expected[0] = 0.9  # camera scale
    expected[3] = math.pi  # root rotated by π about x
    assert torch.equal(model.regressor.mean_theta.detach()[0], expected)
    assert "regressor.mean_theta" in model.state_dict()
    assert model.regressor.mean_theta.requires_grad
    # with a zero last layer every iteration returns Θ_0 exactly
    torch.nn.init.zeros_(model.regressor.fc3.weight)
    torch.nn.init.zeros_(model.regressor.fc3.bias)
    with torch.no_grad():
        for params in model.regress(torch.randn(3, 3, 64, 64)):
            assert torch.equal(params, model.regressor.mean_theta.expand(3, -1))


def test_ief_iterations_match_naive_arithmetic():
    torch.manual_seed(0)
    model = HMR(**SMALL).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model.encoder(images)
        got = model.regress(images)
    reg = model.regressor
    w = {name: p.detach() for name, p in reg.named_parameters()}
    theta = w["mean_theta"].expand(2, -1)
    for t in range(3):
        x = torch.cat([features, theta], 1)
        h = torch.clamp(x @ w["fc1.weight"].T + w["fc1.bias"], min=0)
        h = torch.clamp(h @ w["fc2.weight"].T + w["fc2.bias"], min=0)
        theta = theta + h @ w["fc3.weight"].T + w["fc3.bias"]
        torch.testing.assert_close(got[t], theta, rtol=1e-5, atol=1e-6)


def test_last_layer_initialised_small():
    torch.manual_seed(0)
    reg = HMR().regressor
    # TF variance scaling, factor 0.01, fan-average, uniform: limit sqrt(3 · 0.01 / fan_avg)
    limit = math.sqrt(3 * 0.01 / ((1024 + 85) / 2))
    assert reg.fc3.weight.abs().max() <= limit
    assert reg.fc3.weight.abs().max() > 0.9 * limit


def test_gradients_reach_every_parameter(body):
    torch.manual_seed(0)
    model = HMR(body_model=body, **SMALL).train()
    discriminator = Discriminator()
    outputs = model(torch.randn(4, 3, 64, 64))
    keypoints = torch.cat([torch.rand(4, 19, 2) * 2 - 1, torch.ones(4, 19, 1)], -1)
    losses = encoder_losses(
        outputs,
        keypoints,
        keypoints3d=torch.randn(4, 14, 3),
        smpl_pose=torch.randn(4, 24, 3) * 0.3,
        smpl_betas=torch.randn(4, 10),
        discriminator=discriminator,
    )
    d_total, _, _ = discriminator_losses(
        discriminator, outputs, torch.randn(12, 24, 3) * 0.3, torch.randn(12, 10)
    )
    (losses.total + d_total).backward()
    for module in (model.encoder, model.regressor, discriminator):
        for name, param in module.named_parameters():
            assert param.grad is not None, name
            assert param.grad.abs().sum() > 0, name


def test_bad_inputs_raise():
    model = HMR(**SMALL)
    with pytest.raises(OpenHMRError, match=r"\(B, 3, H, W\)"):
        model(torch.zeros(3, 64, 64))
    with pytest.raises(OpenHMRError, match="backbone"):
        HMR(backbone="resnet18")
    with pytest.raises(OpenHMRError, match="head"):
        HMR(head="vit")
    with pytest.raises(OpenHMRError, match="normalization"):
        HMR(normalization="caffe")
    with pytest.raises(OpenHMRError, match="discriminator"):
        Discriminator()(torch.zeros(2, 24, 3, 3), torch.zeros(2, 10))


def test_normalisation_conventions():
    images = torch.rand(2, 3, 8, 8)
    symmetric = HMR(**SMALL).normalize(images)
    assert torch.allclose(symmetric, images * 2 - 1)
    imagenet = HMR(normalization="imagenet", **SMALL).normalize(images)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(imagenet, (images - mean) / std)


# --- discriminator ---------------------------------------------------------------------------


def _naive_discriminator(d: Discriminator, rotations: torch.Tensor, betas: torch.Tensor):
    """The released code's graph, written out per joint: 23 × (conv 9→32, conv 32→32) ->
    23 separate FC 32→1; flatten -> 1024 -> 1024 -> 1; β -> 10 -> 5 -> 1."""
    p = {name: v.detach() for name, v in d.named_parameters()}
    embedding = []
    for j in range(23):
        x = rotations[:, j].reshape(-1, 9)
        x = F.relu(F.linear(x, p["pose_embedding.0.weight"], p["pose_embedding.0.bias"]))
        x = F.relu(F.linear(x, p["pose_embedding.2.weight"], p["pose_embedding.2.bias"]))
        embedding.append(x)
    joints = [e @ p["joint_weight"][j] + p["joint_bias"][j] for j, e in enumerate(embedding)]
    x = torch.cat(embedding, 1)
    for i in (0, 2):
        x = F.relu(F.linear(x, p[f"all_joints.{i}.weight"], p[f"all_joints.{i}.bias"]))
    all_out = F.linear(x, p["all_joints.4.weight"], p["all_joints.4.bias"])
    y = betas
    for i in (0, 2):
        y = F.relu(F.linear(y, p[f"shape.{i}.weight"], p[f"shape.{i}.bias"]))
    shape_out = F.linear(y, p["shape.4.weight"], p["shape.4.bias"])
    return torch.cat([torch.stack(joints, 1), all_out, shape_out], 1)


def _random_rotations(batch: int, generator: torch.Generator) -> torch.Tensor:
    from openhmr.geometry import axis_angle_to_matrix

    return axis_angle_to_matrix(torch.randn(batch, 23, 3, generator=generator))


def test_discriminator_matches_naive_graph_and_sizes():
    torch.manual_seed(0)
    d = Discriminator()
    assert d.all_joints[0].in_features == 736 and d.all_joints[0].out_features == 1024
    assert d.all_joints[2].out_features == 1024 and d.all_joints[4].out_features == 1
    assert [d.shape[i].out_features for i in (0, 2, 4)] == [10, 5, 1]
    g = torch.Generator().manual_seed(1)
    rotations, betas = _random_rotations(5, g), torch.randn(5, 10, generator=g)
    with torch.no_grad():
        scores = d(rotations, betas)
    assert scores.shape == (5, 25)
    torch.testing.assert_close(scores, _naive_discriminator(d, rotations, betas))
    # linear output: negative scores exist (no sigmoid)
    assert (scores < 0).any()


def test_discriminator_outputs_depend_only_on_their_inputs():
    torch.manual_seed(0)
    d = Discriminator()
    g = torch.Generator().manual_seed(2)
    rotations, betas = _random_rotations(3, g), torch.randn(3, 10, generator=g)
    with torch.no_grad():
        base = d(rotations, betas)
        for joint in (0, 7, 22):
            changed = rotations.clone()
            changed[:, joint] = _random_rotations(3, g)[:, 0]
            delta = (d(changed, betas) - base).abs() > 1e-7
            expected = torch.zeros(25, dtype=torch.bool)
            expected[joint] = expected[23] = True  # its own head and the all-joints head
            assert torch.equal(delta.all(0), expected), joint
            assert not delta[:, ~expected].any()
        delta = (d(rotations, betas + 0.5) - base).abs() > 1e-7
        assert delta[:, 24].all() and not delta[:, :24].any()


# --- torchvision-compatible names ------------------------------------------------------------


def torchvision_resnet50_shapes() -> dict[str, tuple[int, ...]]:
    """torchvision's resnet50 state-dict keys and shapes, written from its definition."""
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", 64)
    inplanes = 64
    for layer, (planes, blocks) in enumerate(
        zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True), start=1
    ):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            shapes[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            bn(f"{p}.bn1", planes)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            shapes[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4)
            if b == 0:
                shapes[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    shapes["fc.weight"] = (1000, 2048)
    shapes["fc.bias"] = (1000,)
    return shapes


def test_resnet50_v1_has_torchvision_names_and_loads_imagenet_strictly():
    expected = torchvision_resnet50_shapes()
    classifier = ResNetV1(num_classes=1000)
    got = {k: tuple(v.shape) for k, v in classifier.state_dict().items()}
    assert got == expected
    # torchvision's published parameter count for resnet50
    assert sum(p.numel() for p in classifier.parameters()) == 25_557_032
    g = torch.Generator().manual_seed(0)
    state = {k: torch.rand(s, generator=g) for k, s in expected.items()}
    state = {k: v.long() if k.endswith("tracked") else v for k, v in state.items()}
    classifier.load_state_dict(state, strict=True)
    # the backbone alone: fc dropped; an old file without BN step counters loads too
    backbone = ResNetV1()
    old_file = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    load_imagenet_weights(backbone, old_file)
    assert torch.equal(backbone.layer4[2].conv3.weight, state["layer4.2.conv3.weight"])
    with pytest.raises(OpenHMRError, match="missing"):
        load_imagenet_weights(ResNetV1(), {k: v for k, v in state.items() if "layer4" not in k})


def test_resnet_v2_strides_in_last_unit_and_conv_shortcut_only_on_depth_change():
    net = ResNetV2()
    for layer, stride in zip(
        (net.layer1, net.layer2, net.layer3, net.layer4), (2, 2, 2, 1), strict=True
    ):
        assert [unit.stride for unit in layer] == [1] * (len(layer) - 1) + [stride]
        assert layer[0].shortcut is not None
        assert all(unit.shortcut is None for unit in layer[1:])
        assert layer[-1].conv2.stride == (stride, stride)


# --- the pieces train together ---------------------------------------------------------------


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread, and OpenMP's spin-waits make two threads crawl
    when another process shares the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # minutes on two cores: `make test-slow`
def test_small_model_overfits_a_few_samples(body, one_thread):
    """Encoder + regressor + body model + losses + discriminator, trained jointly on 4 fixed
    images whose keypoints come from random bodies: the reprojection loss falls by 10x.

    Reduced for a unit test: width 8, 64 px, regressor dropout off (with p = 0.5 four samples
    are memorised only slowly) and the adversarial weight 0.1 (D starts untrained)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    model = HMR(body_model=body, width=8, hidden=128).train()
    model.regressor.dropout.p = 0.0
    discriminator = Discriminator(hidden=64)
    images = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        pose = torch.randn(4, 24, 3, generator=g) * 0.3
        pose[:, 0] = torch.tensor([math.pi, 0, 0])
        betas = torch.randn(4, 10, generator=g)
        target = body(pose=pose, betas=betas).keypoints
        camera = torch.tensor([[0.9, 0.0, 0.0]]) + torch.randn(4, 3, generator=g) * 0.05
        keypoints = camera[:, None, :1] * (target[..., :2] + camera[:, None, 1:])
        keypoints = torch.cat([keypoints, torch.ones(4, 19, 1)], -1)
        keypoints[0, :3, 2] = 0  # some invisible keypoints
    weights = LossWeights(adversarial=0.1)
    e_opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=1e-4)
    mocap_pose, mocap_betas = pose.repeat(3, 1, 1), betas.repeat(3, 1)
    history = []
    for _ in range(400):
        outputs = model(images)
        losses = encoder_losses(outputs, keypoints, discriminator=discriminator, weights=weights)
        e_opt.zero_grad()
        losses.total.backward()
        e_opt.step()
        d_total, _, _ = discriminator_losses(
            discriminator, outputs, mocap_pose, mocap_betas, weights
        )
        d_opt.zero_grad()
        d_total.backward()
        d_opt.step()
        history.append(losses.reprojection.item())
    with torch.no_grad():
        final = encoder_losses(model(images), keypoints).reprojection.item()
    assert final < history[0] / 10, (history[0], final)
