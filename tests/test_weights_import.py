"""Real weights people already have: SPIN's checkpoint, HMR's TF checkpoint, openhmr's own.

Each test builds a checkpoint of the real layout (same names and shapes, random values) and
compares our forward pass with a reference written here from the original code's definition.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from openhmr import Discriminator, OpenHMRError, load_checkpoint, save_checkpoint
from openhmr.model import HMR
from openhmr.model.import_spin import spin_to_openhmr
from openhmr.model.import_tf import tf_model, tf_to_openhmr

LAYERS = (3, 4, 6, 3)


def _bn_values(rng: np.random.Generator, c: int) -> dict[str, np.ndarray]:
    return {
        "weight": rng.uniform(0.5, 1.0, c),
        "bias": rng.normal(0, 0.1, c),
        "running_mean": rng.normal(0, 0.1, c),
        "running_var": rng.uniform(0.5, 1.5, c),
    }


def _conv(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return rng.normal(0, np.sqrt(1.0 / fan_in), shape)


# --- SPIN ------------------------------------------------------------------------------------


def spin_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """SPIN's ``model`` state dict: torchvision ResNet-50 names without fc, then its head."""
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {"conv1.weight": _conv(rng, (64, 3, 7, 7), 147)}

    def bn(prefix: str, c: int) -> None:
        for k, v in _bn_values(rng, c).items():
            state[f"{prefix}.{k}"] = v
        state[f"{prefix}.num_batches_tracked"] = np.array(1000)

    bn("bn1", 64)
    inplanes = 64
    for layer, (planes, blocks) in enumerate(
        zip((64, 128, 256, 512), LAYERS, strict=True), start=1
    ):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            state[f"{p}.conv1.weight"] = _conv(rng, (planes, inplanes, 1, 1), inplanes)
            bn(f"{p}.bn1", planes)
            state[f"{p}.conv2.weight"] = _conv(rng, (planes, planes, 3, 3), 9 * planes)
            bn(f"{p}.bn2", planes)
            state[f"{p}.conv3.weight"] = _conv(rng, (planes * 4, planes, 1, 1), planes)
            bn(f"{p}.bn3", planes * 4)
            if b == 0:
                state[f"{p}.downsample.0.weight"] = _conv(
                    rng, (planes * 4, inplanes, 1, 1), inplanes
                )
                bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    head = {
        "fc1": (1024, 2048 + 144 + 13),
        "fc2": (1024, 1024),
        "decpose": (144, 1024),
        "decshape": (10, 1024),
        "deccam": (3, 1024),
    }
    for name, (out_f, in_f) in head.items():
        state[f"{name}.weight"] = rng.normal(0, 1 / np.sqrt(in_f), (out_f, in_f))
        state[f"{name}.bias"] = rng.normal(0, 0.05, out_f)
    state["init_pose"] = rng.normal(0, 1, (1, 144))
    state["init_shape"] = rng.normal(0, 1, (1, 10))
    state["init_cam"] = np.array([[0.9, 0.0, 0.0]])
    return {
        k: torch.tensor(v, dtype=torch.long if k.endswith("tracked") else torch.float32)
        for k, v in state.items()
    }


def reference_torchvision_resnet50(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """torchvision's ResNet-50 forward, written out functionally (SPIN's ``HMR`` backbone)."""

    def bn(t: torch.Tensor, p: str) -> torch.Tensor:
        return F.batch_norm(
            t, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"]
        )

    x = F.relu(bn(F.conv2d(x, sd["conv1.weight"], stride=2, padding=3), "bn1"))
    x = F.max_pool2d(x, 3, stride=2, padding=1)
    for layer, blocks in enumerate(LAYERS, start=1):
        for b in range(blocks):
            p, stride = f"layer{layer}.{b}", 2 if b == 0 and layer > 1 else 1
            out = F.relu(bn(F.conv2d(x, sd[f"{p}.conv1.weight"]), f"{p}.bn1"))
            out = F.conv2d(out, sd[f"{p}.conv2.weight"], stride=stride, padding=1)
            out = F.relu(bn(out, f"{p}.bn2"))
            out = bn(F.conv2d(out, sd[f"{p}.conv3.weight"]), f"{p}.bn3")
            if b == 0:
                down = F.conv2d(x, sd[f"{p}.downsample.0.weight"], stride=stride)
                x = bn(down, f"{p}.downsample.1")
            x = F.relu(out + x)
    return F.avg_pool2d(x, 7, stride=1).flatten(1)  # SPIN's AvgPool2d(7) on a 224 input


def reference_spin_head(sd: dict[str, torch.Tensor], xf: torch.Tensor):
    """SPIN's ``HMR.forward`` after the backbone, and its ``rot6d_to_rotmat``."""
    batch = xf.shape[0]
    pred_pose = sd["init_pose"].expand(batch, -1)
    pred_shape = sd["init_shape"].expand(batch, -1)
    pred_cam = sd["init_cam"].expand(batch, -1)
    for _ in range(3):
        xc = torch.cat([xf, pred_pose, pred_shape, pred_cam], 1)
        xc = F.linear(xc, sd["fc1.weight"], sd["fc1.bias"])  # drop1: identity in eval
        xc = F.linear(xc, sd["fc2.weight"], sd["fc2.bias"])
        pred_pose = F.linear(xc, sd["decpose.weight"], sd["decpose.bias"]) + pred_pose
        pred_shape = F.linear(xc, sd["decshape.weight"], sd["decshape.bias"]) + pred_shape
        pred_cam = F.linear(xc, sd["deccam.weight"], sd["deccam.bias"]) + pred_cam
    x = pred_pose.reshape(-1, 3, 2)
    a1, a2 = x[:, :, 0], x[:, :, 1]
    b1 = F.normalize(a1)
    b2 = F.normalize(a2 - torch.einsum("bi,bi->b", b1, a2).unsqueeze(-1) * b1)
    b3 = torch.cross(b1, b2, dim=1)
    rotmat = torch.stack((b1, b2, b3), dim=-1).view(batch, 24, 3, 3)
    return rotmat, pred_shape, pred_cam


def test_spin_checkpoint_maps_every_key_and_reproduces_spin(tmp_path: Path):
    state = spin_state_dict()
    mapped = spin_to_openhmr(state)
    model_keys = set(HMR(head="spin", normalization="imagenet").state_dict())
    assert set(mapped) == model_keys  # every key maps, nothing is left over
    assert len(mapped) == len(state)
    path = tmp_path / "model_checkpoint.pt"
    torch.save({"model": state, "optimizer": {}, "epoch": 3, "total_step_count": 10}, path)

    checkpoint = load_checkpoint(path)
    model = checkpoint.model
    assert checkpoint.record["source"] == "spin"
    assert model.config.normalization == "imagenet" and not model.training
    images = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        final = model(images)[-1]
        features = reference_torchvision_resnet50(state, images)
        rotmat, shape, cam = reference_spin_head(state, features)
    torch.testing.assert_close(model.encoder(images), features, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final.rotations, rotmat, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final.betas, shape, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final.camera, cam, rtol=1e-4, atol=1e-4)


def test_spin_rejects_foreign_keys_and_unsafe_pickles(tmp_path: Path):
    state = spin_state_dict()
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(OpenHMRError, match=r"extra\.weight"):
        spin_to_openhmr(state)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump(
            {"model": Path("/")}, fh, protocol=2
        )  # a non-tensor class: weights_only refuses it
    with pytest.raises(OpenHMRError):
        load_checkpoint(evil)
    with pytest.raises(OpenHMRError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")


# --- HMR's TensorFlow checkpoint -------------------------------------------------------------


def hmr_tf_variables(seed: int = 0) -> dict[str, np.ndarray]:
    """Variables of HMR's ``model.ckpt-667589``, named and shaped as slim's resnet_v2_50, the
    3D_module regressor, mean_param and the discriminator D, plus optimizer slots."""
    rng = np.random.default_rng(seed)
    v: dict[str, np.ndarray] = {}

    def bn(scope: str, c: int) -> None:
        values = _bn_values(rng, c)
        v[f"{scope}/gamma"], v[f"{scope}/beta"] = values["weight"], values["bias"]
        v[f"{scope}/moving_mean"] = values["running_mean"]
        v[f"{scope}/moving_variance"] = values["running_var"]

    def conv(scope: str, k: int, cin: int, cout: int, bias: bool) -> None:
        v[f"{scope}/weights"] = _conv(rng, (k, k, cin, cout), k * k * cin)
        if bias:
            v[f"{scope}/biases"] = rng.normal(0, 0.05, cout)

    conv("resnet_v2_50/conv1", 7, 3, 64, bias=True)
    depth_in = 64
    for block, units in enumerate(LAYERS, start=1):
        base = 64 * 2 ** (block - 1)
        for unit in range(1, units + 1):
            s = f"resnet_v2_50/block{block}/unit_{unit}/bottleneck_v2"
            bn(f"{s}/preact", depth_in)
            if depth_in != base * 4:
                conv(f"{s}/shortcut", 1, depth_in, base * 4, bias=True)
            conv(f"{s}/conv1", 1, depth_in, base, bias=False)
            bn(f"{s}/conv1/BatchNorm", base)
            conv(f"{s}/conv2", 3, base, base, bias=False)
            bn(f"{s}/conv2/BatchNorm", base)
            conv(f"{s}/conv3", 1, base, base * 4, bias=True)
            depth_in = base * 4
    bn("resnet_v2_50/postnorm", 2048)
    for name, (fan_in, fan_out) in {"fc1": (2133, 1024), "fc2": (1024, 1024)}.items():
        v[f"3D_module/{name}/weights"] = rng.normal(0, 1 / np.sqrt(fan_in), (fan_in, fan_out))
        v[f"3D_module/{name}/biases"] = rng.normal(0, 0.05, fan_out)
    v["3D_module/fc3/weights"] = rng.normal(0, 0.01, (1024, 85))
    v["3D_module/fc3/biases"] = rng.normal(0, 0.01, 85)
    v["mean_param"] = rng.normal(0, 0.3, (1, 85))
    dense = {
        "D/D_alljoints_fc1": (736, 1024),
        "D/D_alljoints_fc2": (1024, 1024),
        "D/D_alljoints_out": (1024, 1),
        "D/shape_fc1/shape_fc1_1": (10, 10),
        "D/shape_fc1/shape_fc1_2": (10, 5),
        "D/shape_final": (5, 1),
        **{f"D/pose_out_j{j}": (32, 1) for j in range(23)},
    }
    v["D/D_conv1/weights"], v["D/D_conv1/biases"] = (
        rng.normal(0, 0.3, (1, 1, 9, 32)),
        rng.normal(0, 0.1, 32),
    )
    v["D/D_conv2/weights"], v["D/D_conv2/biases"] = (
        rng.normal(0, 0.2, (1, 1, 32, 32)),
        rng.normal(0, 0.1, 32),
    )
    for scope, (fan_in, fan_out) in dense.items():
        v[f"{scope}/weights"] = rng.normal(0, 1 / np.sqrt(fan_in), (fan_in, fan_out))
        v[f"{scope}/biases"] = rng.normal(0, 0.1, fan_out)
    variables = {k: np.asarray(a, dtype=np.float32) for k, a in v.items()}
    # what a training checkpoint also holds, and the importer must skip
    variables["3D_module/fc1/weights/Adam"] = np.zeros((2133, 1024), np.float32)
    variables["3D_module/fc1/weights/Adam_1"] = np.zeros((2133, 1024), np.float32)
    variables["global_step"] = np.array(667589)
    variables["beta1_power"] = np.array(0.9, np.float32)
    return variables


def _tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def reference_hmr_tf(v: dict[str, np.ndarray], images: torch.Tensor) -> list[torch.Tensor]:
    """HMR's TF graph written from slim's resnet_v2 and HMR's Encoder_fc3_dropout."""
    t = {k: torch.from_numpy(a) for k, a in v.items() if a.ndim}

    def bn(x: torch.Tensor, s: str, relu: bool = True) -> torch.Tensor:
        x = F.batch_norm(
            x, t[f"{s}/moving_mean"], t[f"{s}/moving_variance"], t[f"{s}/gamma"], t[f"{s}/beta"],
            eps=1e-5,
        )  # fmt: skip
        return F.relu(x) if relu else x

    def conv(x: torch.Tensor, s: str, stride: int = 1) -> torch.Tensor:
        w = t[f"{s}/weights"].permute(3, 2, 0, 1)  # HWIO -> OIHW
        k = w.shape[-1]
        if stride == 1:  # padding 'SAME'
            ph, pw = _tf_same_pads(x.shape[2], k, 1), _tf_same_pads(x.shape[3], k, 1)
            x = F.pad(x, (*pw, *ph))
        else:  # conv2d_same: explicit symmetric-ish pad, then 'VALID'
            beg = (k - 1) // 2
            x = F.pad(x, (beg, k - 1 - beg, beg, k - 1 - beg))
        return F.conv2d(x, w, t.get(f"{s}/biases"), stride=stride)

    x = conv(images, "resnet_v2_50/conv1", stride=2)
    ph, pw = _tf_same_pads(x.shape[2], 3, 2), _tf_same_pads(x.shape[3], 3, 2)
    x = F.max_pool2d(F.pad(x, (*pw, *ph), value=-np.inf), 3, 2)
    for block, units in enumerate(LAYERS, start=1):
        for unit in range(1, units + 1):
            s = f"resnet_v2_50/block{block}/unit_{unit}/bottleneck_v2"
            stride = 2 if unit == units and block < 4 else 1
            preact = bn(x, f"{s}/preact")
            if f"{s}/shortcut/weights" in t:
                shortcut = conv(preact, f"{s}/shortcut", stride)
            else:
                shortcut = F.max_pool2d(x, 1, stride)  # resnet_utils.subsample
            r = bn(conv(preact, f"{s}/conv1"), f"{s}/conv1/BatchNorm")
            r = bn(conv(r, f"{s}/conv2", stride), f"{s}/conv2/BatchNorm")
            x = shortcut + conv(r, f"{s}/conv3")
    features = bn(x, "resnet_v2_50/postnorm").mean(dim=(2, 3))
    theta = t["mean_param"].expand(images.shape[0], -1)
    thetas = []
    for _ in range(3):
        h = torch.cat([features, theta], 1)
        for fc in ("fc1", "fc2"):
            h = F.relu(h @ t[f"3D_module/{fc}/weights"] + t[f"3D_module/{fc}/biases"])
        theta = theta + h @ t["3D_module/fc3/weights"] + t["3D_module/fc3/biases"]
        thetas.append(theta)
    return thetas


def reference_tf_discriminator(v: dict[str, np.ndarray], poses: torch.Tensor, shapes):
    """``Discriminator_separable_rotations``: poses (N, 23, 9), shapes (N, 10) -> (N, 25)."""
    t = {k: torch.from_numpy(a) for k, a in v.items() if a.ndim}

    def fc(x: torch.Tensor, s: str, relu: bool = True) -> torch.Tensor:
        y = x @ t[f"{s}/weights"].reshape(-1, t[f"{s}/weights"].shape[-1]) + t[f"{s}/biases"]
        return F.relu(y) if relu else y

    p = fc(fc(poses, "D/D_conv1"), "D/D_conv2")  # 1 x 1 convs on a 23 x 1 "image"
    joints = [fc(p[:, i], f"D/pose_out_j{i}", relu=False) for i in range(23)]
    s = fc(fc(shapes, "D/shape_fc1/shape_fc1_1"), "D/shape_fc1/shape_fc1_2")
    shape_out = fc(s, "D/shape_final", relu=False)
    a = fc(fc(p.reshape(p.shape[0], -1), "D/D_alljoints_fc1"), "D/D_alljoints_fc2")
    all_out = fc(a, "D/D_alljoints_out", relu=False)
    return torch.cat([torch.cat(joints, 1), all_out, shape_out], 1)


def test_hmr_tf_variables_map_exactly_and_reproduce_the_tf_graph():
    variables = hmr_tf_variables()
    model_state, disc_state = tf_to_openhmr(variables)
    own = HMR(backbone="resnet50_v2").state_dict()
    expected = {k for k in own if not k.endswith("num_batches_tracked")}
    assert set(model_state) == expected  # every parameter comes from the file, none left
    assert set(disc_state) == set(Discriminator().state_dict())
    model, discriminator = tf_model(variables)
    images = torch.rand(2, 3, 72, 72, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        got = model.regress(images)
        want = reference_hmr_tf(variables, images)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
    poses = torch.randn(4, 23, 9, generator=torch.Generator().manual_seed(1))
    shapes = torch.randn(4, 10, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(
            discriminator(poses, shapes), reference_tf_discriminator(variables, poses, shapes)
        )


def test_hmr_tf_unknown_variable_is_an_error():
    variables = hmr_tf_variables()
    variables["resnet_v2_50/logits/weights"] = np.zeros((1, 1, 2048, 1000), np.float32)
    with pytest.raises(OpenHMRError, match="logits"):
        tf_to_openhmr(variables)


def test_hmr_tf_checkpoint_file(tmp_path: Path):
    tf = pytest.importorskip("tensorflow")
    variables = hmr_tf_variables()
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = [tf.compat.v1.Variable(value, name=name) for name, value in variables.items()]
        saver = tf.compat.v1.train.Saver(tf_vars)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(tmp_path / "model.ckpt-667589"))
    checkpoint = load_checkpoint(tmp_path / "model.ckpt-667589")
    images = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        got = checkpoint.model.regress(images)[-1]
    torch.testing.assert_close(got, reference_hmr_tf(variables, images)[-1], rtol=1e-4, atol=1e-4)


# --- openhmr's own checkpoints ---------------------------------------------------------------


def test_own_checkpoint_round_trip(tmp_path: Path, smplx_npz):
    from openhmr import load_body_model

    torch.manual_seed(0)
    body = load_body_model(smplx_npz)
    model = HMR(backbone="resnet50_v2", width=8, hidden=32, body_model=body).eval()
    discriminator = Discriminator()
    path = save_checkpoint(
        tmp_path / "run" / "hmr.safetensors",
        model,
        discriminator,
        config={"lr": 1e-5, "batch": 64},
        training_data=["lsp", "h36m"],
        metrics={"pa_mpjpe": 58.1},
    )
    assert [p.name for p in path.parent.iterdir()] == ["hmr.safetensors"]  # no temp files
    checkpoint = load_checkpoint(path, body_model=body)
    record = checkpoint.record
    assert record["architecture"]["backbone"] == "resnet50_v2"
    assert record["architecture"]["width"] == 8
    assert record["config"] == {"lr": 1e-5, "batch": 64}
    assert record["training_data"] == ["lsp", "h36m"]
    assert record["metrics"] == {"pa_mpjpe": 58.1}
    assert record["body_model"]["num_vertices"] == body.num_vertices
    assert len(record["body_model"]["sha256"]) == 64
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(images), checkpoint.model(images), strict=True):
            assert torch.equal(a.params, b.params)
            assert torch.equal(a.vertices, b.vertices)
    for a, b in zip(
        discriminator.state_dict().values(),
        checkpoint.discriminator.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    # the record is plain JSON in the safetensors header
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        assert json.loads(handle.metadata()["openhmr"])["format"] == "openhmr-checkpoint/1"


def test_own_checkpoint_half_precision(tmp_path: Path):
    """half=True stores float16 (half the bytes) and loads back as the float32 network whose
    weights are exactly the float16-rounded originals."""
    torch.manual_seed(1)
    model = HMR(width=8, hidden=32).eval()
    full = save_checkpoint(tmp_path / "full.safetensors", model)
    half = save_checkpoint(tmp_path / "half.safetensors", model, half=True)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    from safetensors import safe_open

    with safe_open(str(half), framework="pt") as handle:
        dtypes = {handle.get_tensor(k).dtype for k in handle.keys()}  # noqa: SIM118
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    loaded = load_checkpoint(half)
    assert loaded.record["dtype"] == "float16"
    originals = model.state_dict()
    for name, value in loaded.model.state_dict().items():
        assert value.dtype == originals[name].dtype, name
        if value.is_floating_point():
            assert torch.equal(value, originals[name].half().float()), name
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = model(images)[-1].params, loaded.model(images)[-1].params
    assert torch.allclose(a, b, atol=1e-2)


def test_own_checkpoint_errors(tmp_path: Path):
    model = HMR(width=8, hidden=32)
    with pytest.raises(OpenHMRError, match=r"\.safetensors"):
        save_checkpoint(tmp_path / "x.pt", model)
    with pytest.raises(OpenHMRError, match="JSON"):
        save_checkpoint(tmp_path / "x.safetensors", model, metrics={"bad": object()})
    assert not list(tmp_path.iterdir())
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(OpenHMRError, match="safetensors"):
        load_checkpoint(broken)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(OpenHMRError, match="not a checkpoint openhmr knows"):
        load_checkpoint(other)
