"""The model that ships with the package (docs/default_model.md): present, within its size
budget, loadable by name, and meeting its acceptance on data it has not seen, beside a
constant mean-pose prediction measured the same way — a fresh synthetic split of CMU poses
(3D, root orientation) and the held-out LSP-extended images (2D), when `../shared/data` is
there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from openhmr import load_body_model
from openhmr.cli import main
from openhmr.data.converters.lsp import convert_lspet
from openhmr.data.mocap import build_pose_set, save_pose_set
from openhmr.data.records import load_index
from openhmr.evaluate import evaluate_predictions, mean_pose_model, predict_index
from openhmr.inference import Predictor
from openhmr.inference.predictor import DEFAULT_MODEL
from openhmr.model import load_checkpoint
from openhmr.model.checkpoint import trained_body_model
from openhmr.posenet.precision import posenet_precision
from openhmr.synth import SynthConfig, generate
from tests.conftest import SHARED_DATA

LSPET = SHARED_DATA / "lspet"
MOCAP = SHARED_DATA / "mocap"


BODY = trained_body_model(DEFAULT_MODEL)  # "open-annotated": hips, shoulders as annotated


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(DEFAULT_MODEL, body_model=load_body_model(BODY))


def test_ships_half_precision_within_budget_with_its_record(shipped):
    assert DEFAULT_MODEL.stat().st_size <= 60 * 1024 * 1024
    record = shipped.record
    assert record["dtype"] == "float16"
    assert record["architecture"]["backbone"] == "movenet_thunder"
    assert record["architecture"]["image_size"] == 256
    assert record["architecture"]["orientations"] == 1  # 4 ways up on request
    assert record["architecture"]["views"] == "mirror-turns"  # φ mirrored and turned, averaged
    # two training stages, the second from the first's checkpoint at a tenth of the rate
    stages = record["metrics"]["stages"]
    assert [s["steps"] for s in stages] == [12000, 3000]
    assert stages[1]["encoder_lr"] == pytest.approx(stages[0]["encoder_lr"] / 10)
    assert record["architecture"]["iterations"] == 3
    assert record["config"]["optim"]["adversarial"] is True
    assert record["architecture"]["features"] == "seen-keypoints+blazepose"
    assert record["architecture"]["feedback"] == "keypoints"
    assert record["config"]["data"]["feature_augment"]["rotation_deg"] == 30
    assert record["config"]["data"]["feature_augment"]["mirror_prob"] == 0.5  # v6's mirror
    assert record["body_model"]["name"] == "open-annotated"
    assert record["metrics"]["steps"] > 0
    evaluation = record["metrics"]["evaluation"]
    assert {"model", "model@open", "mean_pose_baseline", "previous"} <= set(evaluation)
    # the data it was trained on is named, and LSP-extended's held-out rows are not in it
    names = json.dumps(record["training_data"])
    assert "lspet_train" in names and "lspet_val" not in names.replace('"val"', "")
    pseudo = record["training_data"]["pseudo_labels"]  # the pseudo-label set: which, and how
    assert len(pseudo["sha256"]) == 64 and pseudo["command"].startswith("openhmr pseudo-label")
    # v10 is one head that starts from the root its root reader reads from φ
    assert record["architecture"]["heads"] == 1 and shipped.model.config.heads == 1
    assert record["architecture"]["root_start"] is True
    assert shipped.model.root_reader is not None
    assert "lspet_train_pseudo_src_v6" in pseudo["command"]


def _scores(model, index) -> dict[str, float]:
    """MPJPE / PA-MPJPE (mm, 14 LSP joints), the root orientation's median error (°)."""
    predictions = predict_index(model, index, batch_size=2, progress=False)
    return evaluate_predictions("synthetic", predictions, index).metrics


@pytest.fixture(scope="module")
def fresh_synthetic(tmp_path_factory):
    """docs/default_model.md's fresh split: 300 images of the CMU poses (all of
    ../shared/data/mocap, converted here as `openhmr mocap` does) at seed 99, which no training
    split used: unseen shapes, cameras, backgrounds and pose draws."""
    if not MOCAP.is_dir():
        pytest.skip("../shared/data/mocap is absent")
    folder = tmp_path_factory.mktemp("fresh")
    save_pose_set(folder / "poses.npz", build_pose_set([MOCAP]))
    config = SynthConfig(out=str(folder / "synth"), num=300, seed=99,
                         mocap=str(folder / "poses.npz"), body_model=BODY)  # fmt: skip
    generate(config, progress=False)
    return load_index(folder / "synth" / "synth.npz")


@pytest.fixture(scope="module")
def synthetic_scores(shipped, fresh_synthetic):
    return {
        "model": _scores(shipped.model, fresh_synthetic),
        "mean": _scores(mean_pose_model(shipped.model), fresh_synthetic),
    }


def test_root_orientation_and_3d_on_a_fresh_synthetic_split(synthetic_scores):
    ours, mean = synthetic_scores["model"], synthetic_scores["mean"]
    # acceptance: root-orientation median error ≤ 30° (a fixed orientation: ~90°); this model
    # 11.7° on v3's split (v7: 12.9°; issue 27 asks ≤ 12°)
    assert ours["root_error_deg"] <= 13.0, synthetic_scores
    assert ours["mpjpe"] < 0.7 * mean["mpjpe"], synthetic_scores
    assert ours["pa_mpjpe"] < 0.9 * mean["pa_mpjpe"], synthetic_scores


def test_pa_mpjpe_on_a_fresh_synthetic_split(synthetic_scores):
    # issue 17's acceptance was ≤ 80 mm (the mean pose: ~122); this model (v10, one head with
    # a root start): 62.0 on v3's split with its averaged views (v7: 63.9; issue 27 asks ≤ 62)
    assert synthetic_scores["model"]["pa_mpjpe"] <= 65.0, synthetic_scores


@pytest.fixture(scope="module")
def lsp_scores(shipped, tmp_path_factory):
    """2D scores on held-out LSP-extended (im07201–im08000) of the model and its mean pose."""
    if not LSPET.is_dir():
        pytest.skip("../shared/data/lspet is absent")
    folder = tmp_path_factory.mktemp("lspet")
    convert_lspet(LSPET, folder, holdout_fraction=0.1)
    index = load_index(folder / "lspet_val.npz")
    assert str(index.imgname[0]) == "im07201.jpg" and len(index) <= 800
    scores = {}
    for name, model in (("model", shipped.model), ("mean", mean_pose_model(shipped.model))):
        predictions = predict_index(model, index, batch_size=2, progress=False)
        scores[name] = evaluate_predictions("keypoints2d", predictions, index).metrics
    with posenet_precision(torch.bfloat16):  # what `Predictor`'s "auto" runs on such a CPU
        predictions = predict_index(shipped.model, index, batch_size=16, progress=False)
    scores["bfloat16"] = evaluate_predictions("keypoints2d", predictions, index).metrics
    return scores


def test_held_out_lsp_extended_2d_beats_the_mean_pose(lsp_scores):
    ours, mean = lsp_scores["model"], lsp_scores["mean"]
    assert ours["pck2d_torso@0.2"] > 3 * mean["pck2d_torso@0.2"], lsp_scores
    assert ours["pckh@0.5"] > 3 * mean["pckh@0.5"], lsp_scores


def test_held_out_lsp_extended_2d_acceptance(lsp_scores):
    # PCK@0.2 (torso) of the projected keypoints, upside-down people included: issue 17 asked
    # ≥ 0.45 (the mean pose: ~0.10); this model (v10, one head with a root start) 0.584 with
    # its averaged views (v7: 0.578; issue 27 asks ≥ 0.58)
    assert lsp_scores["model"]["pck2d_torso@0.2"] >= 57.5, lsp_scores


def test_held_out_lsp_extended_2d_in_bfloat16(lsp_scores):
    """The pose networks in bfloat16 (docs/posenet.md, "Precision"): within a point of float32
    (v5 with one view: 52.6% against 52.5%)."""
    exact, reduced = lsp_scores["model"], lsp_scores["bfloat16"]
    assert abs(reduced["pck2d_torso@0.2"] - exact["pck2d_torso@0.2"]) <= 1.0, lsp_scores
    assert reduced["pck2d_torso@0.2"] >= 57.0, lsp_scores


def test_predictor_and_demo_use_it_by_default(tmp_path):
    predictor = Predictor.from_checkpoint("default")
    assert predictor.model.config.backbone == "movenet_thunder"
    assert predictor.model.config.orientations == 1
    people = predictor("src/openhmr/inference/assets/astronaut.jpg")
    assert len(people) == 1
    assert np.isfinite(people[0].vertices).all()
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    assert (out / "astronaut_overlay.png").is_file()


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_bundled_photo_faces_the_camera_and_its_unseen_shins_hang(precision):
    """The half-length portrait: the face (ears' midpoint → nose) within 30° of the direction
    to the camera, and both shins, which the photo does not show, within 45° of the torso's
    down direction, as standing or seated on a chair (the previous model: 33°, tipped back,
    and 64–67°, legs raised in front of the body); with the pose networks at either precision."""
    from openhmr.evaluate.posture import posture

    predictor = Predictor.from_checkpoint("default", precision=precision)
    people = predictor("src/openhmr/inference/assets/astronaut.jpg")
    reading = posture(people[0].keypoints3d[None])
    assert reading.face_deg[0] <= 30.0, reading
    assert reading.shin_deg.max() <= 45.0, reading


@pytest.mark.slow  # the export alone takes a minute on two cores: `make test-slow`
def test_onnx_export_of_it_agrees_with_pytorch(shipped, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path / "default.onnx"
    assert main(["export", "--onnx", str(out), "--checkpoint", "default"]) == 0
    data = Path(__file__).resolve().parent / "data" / "tfjs_movenet_thunder.npz"
    with np.load(data) as npz:  # real photographs' 256² crops, one of them also upside down
        images = np.concatenate([npz[f"input_{i}"] for i in range(4)]).astype(np.float32)
    images = torch.from_numpy(images).permute(0, 3, 1, 2)
    images = torch.cat([images, images[:1].flip(2, 3)]).contiguous()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        want = torch.stack(shipped.model.regress(images), dim=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
