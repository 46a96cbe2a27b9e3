"""HMR on a pretrained pose network: the MoveNet encoders' φ against TF.js's own outputs (the
fixtures of tests/test_posenet.py), the keypoints-only body evaluation against the full mesh,
the encoder-output cache against the encoder run on the same augmented crops, and training a
frozen encoder from that cache."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from openhmr.body import load_body_model
from openhmr.data.augment import AugmentConfig
from openhmr.data.dataset import RecordDataset
from openhmr.data.records import load_index, save_index
from openhmr.errors import OpenHMRError
from openhmr.model import HMR, load_checkpoint, save_checkpoint
from openhmr.model.movenet_encoder import feature_dim
from openhmr.synth import SynthConfig, generate
from openhmr.train import features as feature_cache
from openhmr.train import load_config, train
from openhmr.train.features import FeatureDataset, build_feature_cache

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def lightning_hmr():
    return HMR(
        backbone="movenet_lightning",
        normalization="pixels",
        image_size=192,
        features="pooled+keypoints",
        body_model=load_body_model("open"),
    ).eval()


@pytest.fixture(scope="module")
def synth_split(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    generate(SynthConfig(out=str(folder), num=6, seed=3), progress=False)
    return folder / "synth.npz"


def test_phi_is_tfjs_backbone_pooled_and_its_keypoints(lightning_hmr):
    """φ = mean of TF.js's backbone end (1280) + TF.js's decoded keypoints, normalised."""
    with np.load(DATA / "tfjs_movenet_lightning.npz") as data:
        image, backbone = data["input_0"], data["node_backbone"]
        keypoints = data["output_0"][0, 0]  # (17, 3) y, x in [0, 1], score
    pixels = torch.from_numpy(image).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        phi = lightning_hmr.encoder(lightning_hmr.normalize(pixels))[0].numpy()
    assert phi.shape == (1280 + 51,) == (feature_dim("pooled+keypoints"),)
    np.testing.assert_allclose(phi[:1280], backbone[0].mean(axis=(0, 1)), rtol=1e-4, atol=1e-4)
    points = phi[1280:].reshape(17, 3)
    np.testing.assert_allclose(points[:, 0], keypoints[:, 1] * 2 - 1, atol=2e-4)
    np.testing.assert_allclose(points[:, 1], keypoints[:, 0] * 2 - 1, atol=2e-4)
    np.testing.assert_allclose(points[:, 2], keypoints[:, 2], atol=1e-4)


def test_encoder_starts_from_the_bundled_pose_network():
    from openhmr.posenet import MoveNet

    pretrained = MoveNet.pretrained("thunder").state_dict()
    model = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
                features="keypoints")  # fmt: skip
    for key, value in pretrained.items():
        assert torch.equal(model.encoder.net.state_dict()[key], value), key
    assert model.encoder.feature_dim == 51
    assert model.regressor.fc1.in_features == 51 + 85


def test_bad_encoder_settings_are_one_clear_error():
    with pytest.raises(OpenHMRError, match="multiple of 32"):
        HMR(backbone="movenet_lightning", normalization="pixels", image_size=200)
    with pytest.raises(OpenHMRError, match="ResNet encoders give"):
        HMR(backbone="resnet50", width=8, features="keypoints")
    with pytest.raises(OpenHMRError, match="encoder features"):
        HMR(backbone="movenet_lightning", normalization="pixels", image_size=192, features="x")


def _tfjs_person():
    """The TF.js fixture's 192² photo (1, 3, H, W) 0–1 and TF.js's keypoints (17, 3) as x, y in
    [−1, 1] and score."""
    with np.load(DATA / "tfjs_movenet_lightning.npz") as data:
        image, keypoints = data["input_0"], data["output_0"][0, 0]
    pixels = torch.from_numpy(image).permute(0, 3, 1, 2).float() / 255.0
    xy = np.stack([keypoints[:, 1], keypoints[:, 0]], axis=1) * 2 - 1
    return pixels, np.concatenate([xy, keypoints[:, 2:]], axis=1)


def _encoder(orientations: int):
    return HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
               features="pooled+keypoints", orientations=orientations).eval()  # fmt: skip


def test_orientation_search_is_the_most_confident_of_the_turned_reads():
    """orientations 4 = a naive loop: read each quarter turn with the one-way encoder, turn the
    points back with a rotation matrix, keep the read of highest mean score."""
    pixels, _ = _tfjs_person()
    torch.manual_seed(0)
    images = torch.cat([pixels, torch.rot90(pixels, 1, dims=(2, 3)), torch.rand(1, 3, 192, 192)])
    one, four = _encoder(1), _encoder(4)
    with torch.no_grad():
        pooled, keypoints = four.encoder.parts(four.normalize(images))
        reads = [one.encoder.parts(one.normalize(torch.rot90(images, k, dims=(2, 3))))
                 for k in range(4)]  # fmt: skip
    for b in range(len(images)):
        scores = [float(reads[k][1][b, :, 2].mean()) for k in range(4)]
        k = int(np.argmax(scores))
        # torch.rot90 by k on (H, W) turns points by k · 90° clockwise in x-right, y-down
        # axes: undo with the rotation by k · 90° the other way
        angle = -k * np.pi / 2
        turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        expected = reads[k][1][b].numpy()
        np.testing.assert_allclose(keypoints[b, :, :2].numpy(), expected[:, :2] @ turn.T,
                                   atol=1e-5)  # fmt: skip
        np.testing.assert_allclose(keypoints[b, :, 2].numpy(), expected[:, 2], atol=1e-6)
        np.testing.assert_allclose(pooled[b].numpy(), reads[k][0][b].numpy(), atol=1e-5)
    assert four.encoder(four.normalize(images)).shape == (3, 1280 + 51)


def test_orientation_search_finds_an_upside_down_person():
    """The fixture photo turned upside down: read one way, MoveNet loses the person; read 2 or
    4 ways, the keypoints are TF.js's on the upright photo, turned (same joint names)."""
    pixels, tfjs = _tfjs_person()
    upside_down = torch.rot90(pixels, 2, dims=(2, 3))
    expected = np.concatenate([-tfjs[:, :2], tfjs[:, 2:]], axis=1)
    with torch.no_grad():
        plain = _encoder(1).encoder.parts(upside_down * 255)[1][0].numpy()
        for orientations in (2, 4):
            found = _encoder(orientations).encoder.parts(upside_down * 255)[1][0].numpy()
            np.testing.assert_allclose(found[:, :2], expected[:, :2], atol=0.02)
            assert found[:, 2].mean() > plain[:, 2].mean() + 0.1
    assert np.abs(plain[:, :2] - expected[:, :2]).max() > 0.1


def test_orientations_travel_with_the_checkpoint(tmp_path):
    model = _encoder(1).set_orientations(4)
    assert model.config.orientations == 4 and model.encoder.turns == (0, 1, 2, 3)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.safetensors", model)).model
    assert loaded.config.orientations == 4
    images = torch.rot90(_tfjs_person()[0], 2, dims=(2, 3)) * 255
    with torch.no_grad():
        torch.testing.assert_close(loaded.encoder(images), model.encoder(images))
    with pytest.raises(OpenHMRError, match="orientations"):
        model.set_orientations(5)


def test_orientations_setting_is_checked():
    with pytest.raises(OpenHMRError, match="orientations"):
        _encoder(3)
    with pytest.raises(OpenHMRError, match="one way up"):
        HMR(backbone="resnet50", width=8, orientations=2)


def test_keypoints_only_body_equals_the_full_mesh(lightning_hmr):
    torch.manual_seed(0)
    params = [p + 0.3 * torch.randn_like(p) for p in lightning_hmr.regress_features(
        torch.rand(3, lightning_hmr.encoder.feature_dim))]  # fmt: skip
    full = lightning_hmr.decode_all(params, "final")[-1]
    light = lightning_hmr.decode_all(params, "keypoints")[-1]
    assert light.vertices is None
    torch.testing.assert_close(light.keypoints3d, full.keypoints3d, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(light.keypoints2d, full.keypoints2d, atol=1e-6, rtol=1e-5)
    every = lightning_hmr.decode_all(params, "all")
    for mesh, points in zip(every, lightning_hmr.decode_all(params, "keypoints-all"), strict=True):
        assert points.vertices is None
        torch.testing.assert_close(points.keypoints2d, mesh.keypoints2d, atol=1e-6, rtol=1e-5)
    with pytest.raises(OpenHMRError, match="pose_body"):
        lightning_hmr.decode_all(params, "mesh")


def test_float16_checkpoint_round_trip(lightning_hmr, tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", lightning_hmr, half=True)
    loaded = load_checkpoint(path).model
    assert loaded.config == lightning_hmr.config
    images = torch.rand(2, 3, 192, 192)
    with torch.no_grad():
        ours = lightning_hmr.regress(lightning_hmr.normalize(images))[-1]
        theirs = loaded.regress(loaded.normalize(images))[-1]
    # float16 weights: close, not equal
    torch.testing.assert_close(theirs, ours, atol=0.05, rtol=0.05)


def test_feature_cache_holds_the_encoder_on_the_same_augmented_crops(
    lightning_hmr, synth_split, tmp_path
):
    dataset = RecordDataset(load_index(synth_split), AugmentConfig(), res=192, seed=4)
    path = build_feature_cache(lightning_hmr, dataset, 2, tmp_path / "c.npz", progress=False)
    cache = FeatureDataset(path, "pooled+keypoints")
    assert len(cache) == 6 and cache.laps == 2
    for row, lap in ((0, 0), (5, 1), (2, 3)):  # lap 3 repeats cached lap 1
        item, sample = cache.get(row, lap), dataset.get(row, lap % 2)
        with torch.no_grad():
            phi = lightning_hmr.encoder(lightning_hmr.normalize(sample["image"][None] / 255.0))
        torch.testing.assert_close(item["features"][:1280], phi[0, :1280], atol=0.02, rtol=5e-3)
        torch.testing.assert_close(item["features"][1280:], phi[0, 1280:], atol=1e-5, rtol=0)
        for key in ("keypoints2d", "joints3d", "pose", "betas", "has_smpl", "has_3d"):
            torch.testing.assert_close(item[key], sample[key].to(item[key].dtype))
    # reused as it is; rebuilt when made for other inputs
    stamp = path.stat().st_mtime_ns
    build_feature_cache(lightning_hmr, dataset, 2, path, progress=False)
    assert path.stat().st_mtime_ns == stamp
    build_feature_cache(lightning_hmr, dataset, 1, path, progress=False)
    with np.load(path) as data:
        assert json.loads(str(data["identity"]))["laps"] == 1
    with pytest.raises(OpenHMRError, match="not a feature cache"):
        FeatureDataset(synth_split)


AUGMENTED = AugmentConfig(rotation_prob=0.6, truncation_prob=0.5)


def test_labels_alone_are_the_labels_of_the_augmented_crop(synth_split):
    """`RecordDataset.labels` (no image read) gives what `get` gives with the image."""
    dataset = RecordDataset(load_index(synth_split), AUGMENTED, res=128, seed=9)
    for row, lap in ((0, 0), (3, 1), (5, 7), (2, 4)):
        sample, labels = dataset.get(row, lap), dataset.labels(row, lap)
        assert set(sample) - {"image"} == set(labels)
        for key, value in labels.items():
            torch.testing.assert_close(value, sample[key], atol=0, rtol=0)


def _relabelled(index, folder: Path, name: str, **changes) -> Path:
    """The index with `changes`, saved beside the images it reads."""
    path = folder / f"{name}.npz"
    save_index(path, dataclasses.replace(index, **changes))
    return path


def test_a_cache_of_the_same_crops_gives_its_encoder_outputs_to_new_labels(
    lightning_hmr, synth_split, tmp_path, monkeypatch
):
    """New pseudo-labels for the same persons reuse the encoded crops: the new cache holds
    the old encoder outputs and the new index's labels as its augmented crops hold them, with
    no encoder call. Stale labels under the same file name are re-read, never used; other 2D
    keypoints (other crops) are encoded afresh."""
    index = load_index(synth_split)
    base = RecordDataset(index, AUGMENTED, res=192, seed=4)
    old = build_feature_cache(lightning_hmr, base, 2, tmp_path / "c" / "a.npz", progress=False)
    rng = np.random.default_rng(0)
    pose = index.pose + rng.normal(0, 0.2, index.pose.shape).astype(np.float32)
    new_index = _relabelled(index, synth_split.parent, "new", pose=pose, betas=index.betas + 0.5)
    dataset = RecordDataset(load_index(new_index), AUGMENTED, res=192, seed=4)
    calls = []
    encode = feature_cache._encode
    monkeypatch.setattr(feature_cache, "_encode", lambda *a: calls.append(1) or encode(*a))
    path = build_feature_cache(lightning_hmr, dataset, 2, tmp_path / "c" / "b.npz", progress=False)
    assert not calls
    before, after = (
        FeatureDataset(old, "pooled+keypoints"),
        FeatureDataset(path, "pooled+keypoints"),
    )
    torch.testing.assert_close(after.features, before.features, atol=0, rtol=0)
    for row, lap in ((0, 0), (4, 1), (5, 1)):
        item, sample = after.get(row, lap), dataset.get(row, lap)
        for key in ("keypoints2d", "joints3d", "pose", "betas", "has_smpl", "has_3d"):
            torch.testing.assert_close(item[key], sample[key].to(item[key].dtype))
        assert not torch.allclose(item["pose"], before.get(row, lap)["pose"])
    # the old cache's own file, its index's labels changed in place: re-read, not reused
    stale = RecordDataset(load_index(new_index), AUGMENTED, res=192, seed=4)
    stale.index = dataclasses.replace(stale.index, betas=index.betas - 1.0)
    build_feature_cache(lightning_hmr, stale, 2, old, progress=False)
    assert not calls
    torch.testing.assert_close(
        FeatureDataset(old, "pooled+keypoints").get(3, 1)["betas"], stale.get(3, 1)["betas"]
    )
    # other 2D keypoints move the crops: encoded afresh
    moved = index.keypoints2d.copy()
    moved[:, :, :2] += 3.0
    other = RecordDataset(
        load_index(_relabelled(index, synth_split.parent, "moved", keypoints2d=moved)),
        AUGMENTED,
        res=192,
        seed=4,
    )
    build_feature_cache(lightning_hmr, other, 2, tmp_path / "c" / "m.npz", progress=False)
    assert calls


TINY_MOVENET = [
    "model.backbone=movenet_lightning",
    "model.normalization=pixels",
    "model.image_size=64",
    "model.features=pooled+keypoints",
    "model.hidden=32",
    "data.batch_size=4",
    "data.workers=0",
    "data.synthetic.train.num=8",
    "data.synthetic.val.num=4",
    "data.val_limit=4",
    "data.mocap_size=64",
    "data.cache_laps=2",
    "optim.train_encoder=false",
    "trainer.max_steps=4",
    "trainer.checkpoint_every_steps=2",
    "trainer.progress_bar=false",
    "trainer.log_every_steps=1",
]


def test_frozen_encoder_trains_the_head_from_the_cache(tmp_path):
    config = load_config("configs/quick.yaml", [*TINY_MOVENET, f"out={tmp_path}"])
    seen = {}

    class Watch(Callback):
        def on_train_start(self, trainer, module):
            seen["encoder"] = {k: v.clone() for k, v in module.model.encoder.state_dict().items()}
            seen["regressor"] = module.model.regressor.fc1.weight.detach().clone()

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            seen["keys"] = set(batch["images"])

    final = train(config, progress=False, extra_callbacks=[Watch()])
    assert "features" in seen["keys"] and "image" not in seen["keys"]
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == ["train0_synth.npz"]
    model = load_checkpoint(final).model
    for key, value in seen["encoder"].items():
        assert torch.equal(model.encoder.state_dict()[key], value), key
    assert not torch.equal(model.regressor.fc1.weight, seen["regressor"])
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["data"]["train"][0]["feature_cache"]["laps"] == 2


def test_cache_needs_a_frozen_encoder(tmp_path):
    with pytest.raises(OpenHMRError, match="cached encoder outputs need a frozen encoder"):
        load_config("configs/quick.yaml", [*TINY_MOVENET, "optim.train_encoder=true"])
    with pytest.raises(OpenHMRError, match="multiple of 32"):
        load_config("configs/quick.yaml", [*TINY_MOVENET, "model.image_size=100"])
    with pytest.raises(OpenHMRError, match=r"model\.features"):
        load_config("configs/quick.yaml", [*TINY_MOVENET, "model.backbone=resnet50"])


def test_regressor_dropout_is_a_training_option(tmp_path):
    from openhmr.train.module import HMRTrainingModule

    config = load_config("configs/quick.yaml", [*TINY_MOVENET, "optim.regressor_dropout=0.0"])
    module = HMRTrainingModule(config)
    rates = [m.p for m in module.model.regressor.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates and all(p == 0.0 for p in rates)
    with pytest.raises(OpenHMRError, match="regressor_dropout"):
        load_config("configs/quick.yaml", [*TINY_MOVENET, "optim.regressor_dropout=1.0"])


def test_mean_pose_baseline_is_the_network_with_its_updates_zeroed(lightning_hmr):
    """The baseline skips the encoder; it must equal the full network (encoder run) with the
    regressor's last layer zeroed, and leave the model it copies untouched."""
    import copy

    from openhmr.evaluate import mean_pose_model

    baseline = mean_pose_model(lightning_hmr)
    assert lightning_hmr.encoder.__class__.__name__ == "MoveNetEncoder"
    reference = copy.deepcopy(lightning_hmr)
    with torch.no_grad():
        reference.regressor.fc3.weight.zero_()
        reference.regressor.fc3.bias.zero_()
        images = torch.rand(2, 3, 192, 192) * 255
        ours, theirs = baseline.regress(images), reference.regress(images)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, lightning_hmr.regressor.mean_theta.expand_as(a))


def test_blazepose_features_are_blazepose_on_the_crop_its_rule_places():
    """φ's BlazePose part equals `BlazePose.landmarks` run on the crop as an image with the
    same Thunder keypoints (landmarks back in [−1, 1], world, visibility, pose flag); unseen
    keypoints lose their position only with "seen-keypoints"."""
    from PIL import Image

    from openhmr.inference.command import EXAMPLE_IMAGE as BUNDLED_PHOTO
    from openhmr.model.movenet_encoder import BLAZEPOSE_DIM, UNSEEN_SCORE
    from openhmr.posenet import BlazePose

    photo = np.asarray(Image.open(BUNDLED_PHOTO).convert("RGB"))
    side = min(photo.shape[:2])
    crop = np.asarray(Image.fromarray(photo[:side, :side]).resize((256, 256), Image.BILINEAR))
    images = torch.from_numpy(crop.copy()).permute(2, 0, 1)[None].float()
    model = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
                features="seen-keypoints+blazepose-full").eval()  # fmt: skip
    plain = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
                features="keypoints+blazepose-full").eval()  # fmt: skip
    with torch.no_grad():
        phi = model.encoder(images)[0].double().numpy()
        phi_plain = plain.encoder(images)[0].double().numpy()
        keypoints = model.encoder.parts(images)[1][0].double().numpy()
    assert phi.shape == (51 + BLAZEPOSE_DIM,) == (feature_dim("seen-keypoints+blazepose"),)
    points = keypoints.copy()
    points[:, :2] = (points[:, :2] + 1) * 128
    read = BlazePose.pretrained("full").landmarks(
        crop, np.array([[0.0, 0.0, 256.0, 256.0]]), keypoints=points[None], masks=False
    )
    blaze = phi[51:-1].reshape(33, 6)
    assert phi[-1] == pytest.approx(read.pose_flag[0], abs=1e-5) and phi[-1] > 0.5
    np.testing.assert_allclose(
        (blaze[:, :2] + 1) * 128, read.landmarks[0, :33, :2], rtol=2e-5, atol=2e-3
    )
    np.testing.assert_allclose(blaze[:, 2:5], read.world[0, :33], atol=1e-5)
    np.testing.assert_allclose(blaze[:, 5], read.visibility[0, :33], atol=1e-5)
    unseen = keypoints[:, 2] < UNSEEN_SCORE
    assert unseen.any() and (~unseen).any()  # a half-length portrait: the legs are unseen
    shown = phi[:51].reshape(17, 3)
    np.testing.assert_array_equal(shown[unseen, :2], 0.0)
    np.testing.assert_allclose(shown[~unseen], keypoints[~unseen], atol=1e-6)
    np.testing.assert_allclose(phi_plain[:51].reshape(17, 3), keypoints, atol=1e-6)
    np.testing.assert_allclose(phi_plain[51:], phi[51:], atol=1e-6)
    assert not any("blazepose" in k for k in model.state_dict())


def test_blazepose_cache_holds_both_variants_and_gives_the_encoders_phi(synth_split, tmp_path):
    """A cache for BlazePose features holds heavy's and full's readings; either features
    choice read from it is the encoder's φ on the same augmented crop; a cache made without
    them cannot serve them."""
    model = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
                features="seen-keypoints+blazepose").eval()  # fmt: skip
    full = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
               features="keypoints+blazepose-full").eval()  # fmt: skip
    index = load_index(synth_split).subset(slice(0, 2))
    dataset = RecordDataset(index, AugmentConfig(truncation_prob=0.5), res=256, seed=2)
    path = build_feature_cache(model, dataset, 1, tmp_path / "b.npz", progress=False)
    with np.load(path) as data:
        assert {"blazepose_heavy", "blazepose_full"} <= set(data.files)
        assert json.loads(str(data["identity"]))["blazepose"] == ["heavy", "full"]
    both = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
               features="seen-keypoints+blazepose+blazepose-full").eval()  # fmt: skip
    read = {}
    for net, features in ((model, "seen-keypoints+blazepose"), (full, "keypoints+blazepose-full"),
                          (both, "seen-keypoints+blazepose+blazepose-full")):  # fmt: skip
        cache = FeatureDataset(path, features)
        for row in range(2):
            with torch.no_grad():
                phi = net.encoder(dataset.get(row, 0)["image"][None].float())[0]
            torch.testing.assert_close(cache.get(row, 0)["features"], phi, atol=1e-4, rtol=1e-4)
            read[features, row] = phi
    for row in range(2):  # both readings: heavy's φ, then full's reading, side by side
        phi = read["seen-keypoints+blazepose+blazepose-full", row]
        assert phi.shape == (feature_dim("seen-keypoints+blazepose+blazepose-full"),) == (449,)
        torch.testing.assert_close(phi[:250], read["seen-keypoints+blazepose", row])
        torch.testing.assert_close(phi[250:], read["keypoints+blazepose-full", row][51:])
        assert not torch.allclose(phi[51:250], phi[250:], atol=1e-2)  # two different networks
    plain = HMR(backbone="movenet_thunder", normalization="pixels", image_size=256,
                features="keypoints").eval()  # fmt: skip
    stamp = path.stat().st_mtime_ns  # a cache with BlazePose's readings serves plain features
    assert build_feature_cache(plain, dataset, 1, path, progress=False) == path
    assert path.stat().st_mtime_ns == stamp
    assert FeatureDataset(path, "keypoints").features.shape == (2, 51)
    other = build_feature_cache(plain, dataset, 1, tmp_path / "k.npz", progress=False)
    with pytest.raises(OpenHMRError, match="no BlazePose heavy reading"):
        FeatureDataset(other, "keypoints+blazepose")


def test_caches_only_encodes_the_named_entries_and_trains_nothing(tmp_path, capsys):
    from openhmr.cli import main

    argv = ["train", "--config", "configs/quick.yaml", "--caches-only", "--entries", "0"]
    argv += [f"--set={item}" for item in (*TINY_MOVENET, f"out={tmp_path}")]
    assert main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == ["train0_synth.npz"]
    assert not (tmp_path / "checkpoints").exists()
    assert main([*argv[:-len(TINY_MOVENET) - 1], "--entries", "3",
                 *argv[-len(TINY_MOVENET) - 1:]]) == 2  # fmt: skip
    assert "data.train has entries 0..0" in capsys.readouterr().err
