"""The root reader (`HMRConfig.root_start`): it learns a root from φ, Θ₀'s root is its reading
for every head, it is saved with the network, and training reads it from a file, frozen."""

from __future__ import annotations

import pytest
import torch

from openhmr.errors import OpenHMRError
from openhmr.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_rotation_6d,
    rotation_angle,
)
from openhmr.model import HMR, load_checkpoint, save_checkpoint
from openhmr.model.root_reader import (
    RootReader,
    chordal_loss,
    fit_root_reader,
    load_root_reader_into,
    save_root_reader,
)


def random_rotations(count: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return axis_angle_to_matrix(torch.randn(count, 3, generator=g) * 1.2)


def test_chordal_loss_of_a_known_turn():
    """‖R − R̂‖² = 2 (3 − tr(Rᵀ R̂)) = 4 (1 − cos θ): 30° apart gives 4 (1 − cos 30°)."""
    turn = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, torch.pi / 6]]))
    expected = 4 * (1 - torch.cos(torch.tensor(torch.pi / 6)))
    torch.testing.assert_close(chordal_loss(turn, torch.eye(3)[None]), expected)
    weights = torch.tensor([1.0, 3.0])
    both = torch.cat([turn, torch.eye(3)[None]])
    identities = torch.eye(3).expand(2, 3, 3)
    torch.testing.assert_close(chordal_loss(both, identities, weights), expected / 4)


def test_reader_learns_a_root_that_phi_holds():
    """φ = the root's 6D (noisy) among unrelated numbers: trained, it reads held-out roots
    within 8° (untrained: tens of degrees off)."""
    truth = random_rotations(3000, 0)
    g = torch.Generator().manual_seed(1)
    phi = torch.cat(
        [matrix_to_rotation_6d(truth) * 5 + 0.05 * torch.randn(3000, 6, generator=g),
         torch.randn(3000, 10, generator=g)], dim=1,
    )  # fmt: skip
    torch.manual_seed(0)
    reader = RootReader(16, hidden=128, dropout=0.0)
    before = rotation_angle(reader(phi[2500:]).detach(), truth[2500:]).median()
    history = fit_root_reader(reader, phi[:2500], truth[:2500], epochs=60, batch_size=128)
    after = rotation_angle(reader(phi[2500:]).detach(), truth[2500:]).median()
    assert history[-1] < history[0] / 10
    assert torch.rad2deg(before) > 30 and torch.rad2deg(after) < 8, (before, after)
    assert not reader.training
    with pytest.raises(OpenHMRError, match=r"rotations \(N, 3, 3\)"):
        fit_root_reader(reader, phi[:10], truth[:9])


def network(**extra) -> HMR:
    torch.manual_seed(0)
    return HMR(width=8, hidden=32, image_size=64, root_start=True, **extra).eval()


def test_theta0_root_is_the_readers_for_every_head():
    """With the IEF steps zeroed, every iteration's Θ is Θ₀: its root is the reader's reading
    of φ and the rest is the mean's; a second head starts from the same reader."""
    model = network()
    with torch.no_grad():
        model.regressor.fc3.weight.zero_()
        model.regressor.fc3.bias.zero_()
    phi = torch.randn(5, model.encoder.feature_dim)
    thetas = model.regress_features(phi)
    expected = model.root_reader(phi)
    for theta in thetas:
        torch.testing.assert_close(axis_angle_to_matrix(theta[:, 3:6]), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(theta[:, :3], model.regressor.mean_theta[:, :3].expand(5, -1))
        torch.testing.assert_close(theta[:, 6:], model.regressor.mean_theta[:, 6:].expand(5, -1))
    other = network()
    with torch.no_grad():
        other.regressor.fc3.weight.zero_()
        other.regressor.fc3.bias.zero_()
        other.root_reader.net[-1].bias.add_(1.0)  # a different reader: not the one used
    pair = model.with_heads(other)
    torch.testing.assert_close(
        axis_angle_to_matrix(pair.regress_features(phi)[-1][:, 3:6]), expected, atol=1e-5, rtol=0
    )
    plain = HMR(width=8, hidden=32, image_size=64).eval()
    assert plain.root_reader is None and not any("root_reader" in k for k in plain.state_dict())
    with pytest.raises(OpenHMRError, match="root_start"):
        plain.with_heads(network())


def test_root_reader_is_saved_with_the_network(tmp_path):
    model = network()
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    loaded = load_checkpoint(path).model.eval()
    assert loaded.config.root_start
    phi = torch.randn(3, model.encoder.feature_dim)
    torch.testing.assert_close(loaded.regress_features(phi)[-1], model.regress_features(phi)[-1])


def test_reader_file_round_trip_and_a_wrong_file(tmp_path):
    reader = RootReader(16, hidden=8)
    torch.nn.init.normal_(reader.net[0].weight)
    save_root_reader(tmp_path / "r.safetensors", reader)
    again = load_root_reader_into(RootReader(16, hidden=8), tmp_path / "r.safetensors")
    phi = torch.randn(4, 16)
    torch.testing.assert_close(again.eval()(phi), reader.eval()(phi))
    wrong = r"r\.safetensors: does not match the network: .*wrong shapes \['net\.0\.bias"
    with pytest.raises(OpenHMRError, match=wrong):
        load_root_reader_into(RootReader(16, hidden=4), tmp_path / "r.safetensors")
    with pytest.raises(OpenHMRError, match=r"missing\.safetensors: cannot read it"):
        load_root_reader_into(reader, tmp_path / "missing.safetensors")


def test_training_reads_the_reader_frozen_and_checks_the_config(tmp_path):
    from openhmr.train import load_config
    from openhmr.train.module import HMRTrainingModule

    tiny = ["model.width=8", "model.hidden=32", "model.image_size=64", f"out={tmp_path}/run"]
    reader = RootReader(network().encoder.feature_dim)
    torch.nn.init.normal_(reader.net[-1].weight)
    save_root_reader(tmp_path / "r.safetensors", reader)
    config = load_config(
        "configs/quick.yaml",
        [*tiny, "model.root_start=true", f"model.root_reader_from={tmp_path}/r.safetensors"],
    )
    module = HMRTrainingModule(config)
    ours = module.model.root_reader
    for (name, a), b in zip(ours.state_dict().items(), reader.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not any(p.requires_grad for p in ours.parameters())
    assert any(p.requires_grad for p in module.model.regressor.parameters())
    with pytest.raises(OpenHMRError, match=r"model\.root_start: the root reader is trained"):
        load_config("configs/quick.yaml", [*tiny, "model.root_start=true"])
    with pytest.raises(OpenHMRError, match=r"set model\.root_start: true"):
        load_config("configs/quick.yaml", [*tiny, f"model.root_reader_from={tmp_path}/r"])


def test_onnx_export_reads_the_root_as_the_network_does(tmp_path):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from openhmr.model.export import export_onnx

    model = network()
    torch.nn.init.normal_(model.root_reader.net[-1].weight)  # a root far from the mean's
    path = export_onnx(model, tmp_path / "m.onnx", image_size=64)
    images = torch.randn(2, 3, 64, 64)
    ours = ort.InferenceSession(str(path)).run(None, {"images": images.numpy()})[0]
    with torch.no_grad():
        expected = torch.stack(model.regress(images), dim=1)
    torch.testing.assert_close(torch.from_numpy(ours), expected, atol=1e-4, rtol=1e-4)


def test_mean_pose_baseline_of_a_root_start_network_is_the_mean():
    from openhmr.evaluate import mean_pose_model

    model = network()
    torch.nn.init.normal_(model.root_reader.net[-1].weight)
    baseline = mean_pose_model(model)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        theta = baseline.regress(images)[-1]
    torch.testing.assert_close(theta, model.regressor.mean_theta.expand(2, -1))
    assert model.root_reader is not None  # the original keeps its reader
