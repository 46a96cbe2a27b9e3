"""Training: configs, a killed-and-resumed run equals an uninterrupted one bit for bit, a
non-finite loss stops the run naming the term, logs/checkpoints/previews are written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

from openhmr.errors import OpenHMRError
from openhmr.train import load_config, train

TINY = [
    "model.width=8",
    "model.hidden=32",
    "model.image_size=64",
    "data.batch_size=4",
    "data.workers=0",
    "data.synthetic.train.num=12",
    "data.synthetic.val.num=4",
    "data.val_limit=4",
    "data.mocap_size=64",
    "trainer.max_steps=4",
    "trainer.checkpoint_every_steps=2",
    "trainer.progress_bar=false",
    "trainer.log_every_steps=1",
]


def tiny_config(out, *extra):
    return load_config("configs/quick.yaml", [*TINY, f"out={out}", *extra])


class KillError(Exception):
    pass


class KillAtEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == 1:
            raise KillError  # dies mid-epoch, after the epoch-0 checkpoint


class PoisonWeights(Callback):
    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.current_epoch == 1:
            with torch.no_grad():
                next(module.model.regressor.parameters()).fill_(float("nan"))


def test_config_overrides_and_unknown_keys(tmp_path):
    config = tiny_config(tmp_path, "optim.weights={reprojection: 1.0}", "optim.encoder_lr=3e-4")
    assert config.model.width == 8 and config.optim.weights == {"reprojection": 1.0}
    assert config.optim.encoder_lr == 3e-4  # YAML 1.1 reads 3e-4 as a string
    with pytest.raises(OpenHMRError, match=r"optim\.encoder_lr: expected a number"):
        load_config(None, ["optim.encoder_lr=fast"])
    assert config.global_batch == 4
    with pytest.raises(OpenHMRError, match=r"config model: unknown keys \['depth'\]"):
        load_config("configs/quick.yaml", ["model.depth=3"])
    with pytest.raises(OpenHMRError, match="expected key=value"):
        load_config(None, ["trainer.max_steps"])


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    straight = train(tiny_config(tmp_path / "a"), progress=False)
    with pytest.raises(KillError):
        train(tiny_config(tmp_path / "b"), progress=False, extra_callbacks=[KillAtEpoch(1)])
    assert (tmp_path / "b" / "checkpoints" / "last.ckpt").exists()
    with pytest.raises(OpenHMRError, match="pass --resume"):
        train(tiny_config(tmp_path / "b"), progress=False)
    resumed = train(tiny_config(tmp_path / "b"), resume=True, progress=False)
    a, b = load_file(straight), load_file(resumed)
    assert a.keys() == b.keys() and len(a) > 100
    changed = load_file(tmp_path / "a" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    from openhmr.model import load_checkpoint

    assert load_checkpoint(straight).model.config.image_size == 64  # the trained input size
    assert changed.keys() == a.keys()
    # the run wrote its logs, per-epoch checkpoints and prediction previews
    out = tmp_path / "a"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "epoch_0000.ckpt",
        "epoch_0001.ckpt",
        "last.ckpt",
    ]
    assert len(list((out / "images").glob("step_*.png"))) == 2
    header = (out / "logs" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    for column in ("train/reprojection", "train/disc_real", "val/mpjpe_mm", "lr/encoder"):
        assert column in header


def test_non_finite_loss_stops_with_the_term_named(tmp_path):
    with pytest.raises(OpenHMRError, match=r"loss term 'reprojection' is nan at step 2"):
        train(tiny_config(tmp_path), progress=False, extra_callbacks=[PoisonWeights()])
    assert (tmp_path / "checkpoints" / "epoch_0000.ckpt").exists()


def test_training_without_the_prior_leaves_the_discriminator_untouched(tmp_path):
    before = None

    class Snapshot(Callback):
        def on_train_start(self, trainer, module):
            nonlocal before
            before = {k: v.clone() for k, v in module.discriminator.state_dict().items()}

    final = train(
        tiny_config(tmp_path, "optim.adversarial=false", "trainer.max_steps=2"),
        progress=False,
        extra_callbacks=[Snapshot()],
    )
    weights = load_file(final)
    for key, value in before.items():
        assert torch.equal(weights[f"discriminator.{key}"], value)


def test_train_command(tmp_path, capfd):
    from openhmr.cli import main

    args = ["train", "--config", "configs/quick.yaml", "--accelerator", "cpu"]
    for item in [*TINY, f"out={tmp_path}", "trainer.max_steps=2", "trainer.image_grid=false"]:
        args += ["--set", item]
    assert main(args) == 0
    captured = capfd.readouterr()
    assert "global batch 4" in captured.out
    assert "litlogger" not in captured.out + captured.err  # Lightning's advertisement
    assert (tmp_path / "model.safetensors").exists()
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capfd.readouterr().err


def test_train_refuses_a_bad_config_before_any_work(tmp_path):
    """A config built in code (not through load_config) is checked too, and a file it names
    must exist: both before the synthetic data is generated or anything is written."""
    import dataclasses

    config = tiny_config(tmp_path / "run")
    bad = dataclasses.replace(config, data=dataclasses.replace(config.data, batch_size=0))
    with pytest.raises(OpenHMRError, match=r"config data\.batch_size: expected an integer ≥ 1"):
        train(bad, progress=False)
    missing = tiny_config(tmp_path / "run", f"data.mocap={tmp_path / 'poses.npz'}")
    with pytest.raises(OpenHMRError, match=r"config data\.mocap: no such file"):
        train(missing, progress=False)
    with pytest.raises(OpenHMRError, match=r"config trainer\.precision: expected one of"):
        tiny_config(tmp_path / "run", "trainer.precision=foo")
    assert list(tmp_path.iterdir()) == []


def test_synthetic_splits_are_generated_inside_the_run_folder(tmp_path):
    from openhmr.train.data import resolve_index

    config = tiny_config(tmp_path / "run", "data.synthetic.val.num=2")
    path = resolve_index("synthetic:val", config, progress=False)
    assert path == tmp_path / "run" / "data" / "val" / "synth.npz" and path.exists()
    with pytest.raises(OpenHMRError, match="names no split"):
        resolve_index("synthetic:test", config, progress=False)


def test_theta0_starts_at_the_mean_mocap_pose(tmp_path):
    """model.mean_pose: "mocap" puts Θ₀'s pose at the per-joint mean rotation of the prior's
    pose set (root: π about x); "zero" keeps SMPL's rest pose."""
    from scipy.spatial.transform import Rotation

    from openhmr.train.data import build_training_data, initial_mean_pose
    from openhmr.train.module import HMRTrainingModule

    config = tiny_config(tmp_path)
    data = build_training_data(config, progress=False)
    mean_pose = initial_mean_pose(config, data)
    poses = data.mocap.poses.reshape(-1, 24, 3)
    for joint in (1, 16, 18):  # a hip, a shoulder, an elbow: scipy's rotation mean as reference
        expected = Rotation.from_rotvec(poses[:, joint].astype(np.float64)).mean().as_rotvec()
        np.testing.assert_allclose(mean_pose[joint].numpy(), expected, atol=1e-5)
    theta0 = HMRTrainingModule(config, mean_pose=mean_pose).model.regressor.mean_theta[0]
    np.testing.assert_allclose(theta0[3:6].detach().numpy(), [np.pi, 0, 0], atol=1e-6)
    np.testing.assert_allclose(theta0[6:75].detach().numpy(), mean_pose[1:].reshape(-1), atol=1e-6)
    zero = tiny_config(tmp_path, "model.mean_pose=zero")
    assert initial_mean_pose(zero, data) is None
    with pytest.raises(OpenHMRError, match="mean_pose"):
        initial_mean_pose(tiny_config(tmp_path, "model.mean_pose=average"), data)


def test_resume_points_load_as_checkpoints(tmp_path):
    """`<out>/checkpoints/*.ckpt` (Lightning's files) load through load_checkpoint with the
    same network as the run's final model.safetensors."""
    from openhmr.model import load_checkpoint

    final = train(tiny_config(tmp_path, "trainer.max_steps=2"), progress=False)
    resume_point = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert resume_point.record["metrics"]["steps"] == 2
    assert resume_point.record["config"]["model"]["width"] == 8
    weights = load_file(final)
    for key, value in resume_point.model.state_dict().items():
        assert torch.equal(weights[f"model.{key}"], value), key


def test_second_stage_starts_from_a_checkpoints_weights(tmp_path):
    """model.init_from copies a run's network and discriminator (float16 files too) into a new
    run; a checkpoint of another architecture is refused, naming what differs."""
    from openhmr.model import load_checkpoint, save_checkpoint
    from openhmr.train.module import HMRTrainingModule

    train(tiny_config(tmp_path / "first", "trainer.max_steps=2"), progress=False)
    first = load_checkpoint(tmp_path / "first" / "checkpoints" / "last.ckpt")
    second = HMRTrainingModule(
        tiny_config(tmp_path / "second", f"model.init_from={tmp_path}/first/checkpoints/last.ckpt")
    )
    for ours, theirs in (
        (second.model.encoder, first.model.encoder),
        (second.model.regressor, first.model.regressor),
        (second.discriminator, first.discriminator),
    ):
        for (name, a), b in zip(
            ours.state_dict().items(), theirs.state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), name
    fresh = HMRTrainingModule(tiny_config(tmp_path / "third"))
    assert not torch.equal(fresh.model.regressor.fc3.weight, first.model.regressor.fc3.weight)
    half = save_checkpoint(tmp_path / "half.safetensors", first.model, half=True)
    from_half = HMRTrainingModule(tiny_config(tmp_path / "fourth", f"model.init_from={half}"))
    torch.testing.assert_close(
        from_half.model.regressor.fc1.weight, first.model.regressor.fc1.weight, atol=1e-3, rtol=1e-3
    )
    with pytest.raises(OpenHMRError, match="width"):
        HMRTrainingModule(
            tiny_config(tmp_path / "fifth", "model.width=16", f"model.init_from={half}")
        )


@pytest.mark.slow  # two processes training: minutes on two cores (`make test-slow`)
def test_two_process_ddp_run_on_cpu(tmp_path):
    """`--devices 2` on CPU: Lightning's DDP launches a second process, each rank draws its own
    half of every step's batches, both optimisers' gradients are averaged (the run checks at
    the end that both ranks hold the same weights), and rank 0 alone writes the model."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "openhmr", "train", "--config", "configs/quick.yaml"]
    args += ["--accelerator", "cpu", "--devices", "2"]
    for item in [*TINY, f"out={tmp_path}", "trainer.image_grid=false"]:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1
    assert "global batch 8 (4 per device)" in done.stdout
    assert (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_rank_agreement_check_names_the_first_differing_tensor():
    from openhmr.train.module import check_ranks_agree, parameter_checksums

    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))

    def agreeing(sums):
        return torch.stack([sums, sums.clone()])

    def differing(sums):
        other = sums.clone()
        other[2] += 1e-3  # the second layer's weight
        return torch.stack([sums, other])

    check_ranks_agree(module, agreeing)
    with pytest.raises(OpenHMRError, match=r"different weights \(first difference in 1\.weight\)"):
        check_ranks_agree(module, differing)
    expected = [float(p.detach().double().sum()) for p in module.parameters()]
    assert parameter_checksums(module).tolist() == pytest.approx(expected)


def test_a_dataset_read_for_its_2d_labels_only(tmp_path):
    """data.train[i].labels "2d": the batch keeps the samples' 2D keypoints and images but no
    3D or SMPL label counts; an unknown labels value is one clear error."""
    import dataclasses

    from openhmr.data.dataset import RecordDataset
    from openhmr.data.records import load_index
    from openhmr.train.data import Labels2D, resolve_index
    from openhmr.train.sections import DatasetEntry
    from openhmr.train.validate import check_values

    config = tiny_config(tmp_path / "run", "data.synthetic.val.num=3")
    index = load_index(resolve_index("synthetic:val", config, progress=False))
    dataset = RecordDataset(index, res=64, seed=1)
    plain, only2d = dataset.get(1, 0), Labels2D(dataset).get(1, 0)
    assert bool(plain["has_smpl"]) and bool(plain["has_3d"])
    assert not bool(only2d["has_smpl"]) and not bool(only2d["has_3d"])
    for key in ("image", "keypoints2d", "pose"):
        assert torch.equal(plain[key], only2d[key])
    entries = (DatasetEntry(config.data.train[0].index, 1.0, "3d"),)
    bad = dataclasses.replace(config, data=dataclasses.replace(config.data, train=entries))
    with pytest.raises(OpenHMRError, match=r"data\.train\[0\]\.labels: expected 'all' or '2d'"):
        check_values(bad)
