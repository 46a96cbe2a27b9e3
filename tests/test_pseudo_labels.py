"""`openhmr.pseudo`: the fit over a split in resumable chunks, merged into a labelled index."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from openhmr.body import load_body_model
from openhmr.body.keypoints import COCO17_NAMES, COCOPLUS_NAMES
from openhmr.cli import main
from openhmr.data.records import load_index
from openhmr.errors import OpenHMRError
from openhmr.model import HMR, save_checkpoint
from openhmr.pseudo import PseudoLabelConfig, PseudoLabelFilter, fit_split, merge_pseudo_labels
from openhmr.pseudo.run import fit_targets, load_model, read_chunks
from openhmr.synth import SynthConfig, generate

FIT = {"iterations": 10, "facing_candidates": 2, "facing_iterations": 4}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_pseudo")
    return generate(SynthConfig(out=str(out), num=5, seed=31), progress=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    return save_checkpoint(path, HMR(body_model=load_body_model("open"), width=8, hidden=32))


def coco_truth(index):
    """A keypoint source returning each row's true keypoints as COCO-17 (face included)."""
    names = np.asarray(index.imgname).astype(str)
    rows = {name: np.flatnonzero(names == name) for name in set(names)}
    order = [COCOPLUS_NAMES.index(name) for name in COCO17_NAMES]
    calls = []

    def source(image, boxes):
        row = next(r for name, r in rows.items() if len(r) == len(boxes) and _same(index, r, boxes))
        calls.append(row)
        keypoints = np.asarray(index.keypoints2d[row][:, order], np.float64).copy()
        keypoints[..., 2] = 0.9
        return keypoints

    return source, calls


def _same(index, rows, boxes):
    from openhmr.evaluate.refine import person_boxes

    return np.allclose(person_boxes(index.subset(rows)), boxes)


def test_truth_and_face_targets():
    """truth+face: the index's 14 annotated joints, then the source's 5 face points."""
    from openhmr.data.records import RecordIndex

    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 100, (2, 19, 3))
    index = RecordIndex(np.array(["a", "b"]), np.zeros((2, 2)), np.ones(2), keypoints, ".")
    source = rng.uniform(0, 100, (2, 17, 3))
    targets = fit_targets(index, source, "truth+face")
    np.testing.assert_array_equal(targets[:, :14], keypoints[:, :14])
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        np.testing.assert_array_equal(
            targets[:, COCOPLUS_NAMES.index(name)], source[:, COCO17_NAMES.index(name)]
        )
    np.testing.assert_array_equal(fit_targets(index, source, "source"), source)


def test_fit_split_resumes_and_merges(split, checkpoint, tmp_path):
    index = load_index(split)
    model = load_model(str(checkpoint), "open-annotated")
    source, calls = coco_truth(index)
    config = PseudoLabelConfig(checkpoint=str(checkpoint), chunk=2, fit=FIT)
    run = tmp_path / "run"
    paths = fit_split(index, run, model, source, config, progress=False)
    assert [p.name for p in paths] == ["chunk_00000.npz", "chunk_00001.npz", "chunk_00002.npz"]
    first = read_chunks(run)
    paths[1].unlink()  # a run stopped before its second chunk resumes there, only there
    calls.clear()
    fit_split(index, run, model, source, config, progress=False)
    assert [list(c) for c in calls] == [[2], [3]]
    again = read_chunks(run)
    np.testing.assert_allclose(again["pose"], first["pose"], atol=1e-5)
    with pytest.raises(OpenHMRError, match="other settings"):
        fit_split(index, run, model, source, PseudoLabelConfig(chunk=3, fit=FIT), progress=False)

    keep = PseudoLabelFilter(max_error=0.02, min_keypoints=10, world=False)
    labelled = merge_pseudo_labels(index, run, keep)
    side = 200.0 * index.scale
    expected = first["refined"] & (first["keypoints_used"] >= 10) & (first["error"] / side <= 0.02)
    np.testing.assert_array_equal(labelled.has_smpl, expected)
    np.testing.assert_array_equal(labelled.joints3d[..., 3], expected[:, None].repeat(14, 1))
    body = load_body_model("open-annotated")
    with torch.no_grad():
        posed = body(pose=torch.from_numpy(labelled.pose).reshape(-1, 24, 3),
                     betas=torch.from_numpy(labelled.betas)).keypoints[:, :14].numpy()  # fmt: skip
    posed = posed - posed[:, [2, 3]].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(labelled.joints3d[..., :3], posed, atol=1e-4)
    assert labelled.meta["pseudo_labels"]["good"] == int(expected.sum())
    # without world landmarks nothing passes a filter that asks for them
    assert not merge_pseudo_labels(index, run).has_smpl.any()


def test_cli_fits_resumes_and_reports_missing_chunks(split, checkpoint, tmp_path, capsys):
    run, merged = tmp_path / "cli_run", tmp_path / "labelled.npz"
    argv = ["pseudo-label", str(split), "--out", str(run), "--checkpoint", str(checkpoint)]
    argv += ["--source", "movenet", "--targets", "source", "--chunk", "3", "--rows", "3"]
    argv += [f"--fit={k}={v}" for k, v in FIT.items()]
    assert main([*argv, "--merge", str(merged), "--no-world", "--max-error", "1"]) == 0
    labelled = load_index(merged)
    assert len(labelled) == 3 and labelled.has_smpl is not None
    record = labelled.meta["pseudo_labels"]
    assert record["command"].startswith("openhmr pseudo-label ") and "--merge" in record["command"]
    assert record["manifest"]["targets"] == "source" and record["manifest"]["rows"] == 3
    assert "3 of 3 persons labelled" in capsys.readouterr().out
    with pytest.raises(OpenHMRError, match="not fitted yet"):
        read_chunks(run, rows=5)
    other = [("4" if a == "3" and argv[i - 1] == "--chunk" else a) for i, a in enumerate(argv)]
    assert main(other) == 2  # other settings: one line
    assert "other settings" in capsys.readouterr().err
    assert main(["pseudo-label", str(split), "--out", str(run), "--targets", "x"]) == 2


def test_the_fit_starts_as_refine_starts_and_the_manifest_says_so(tmp_path, split):
    """A checkpoint reading "mirror-turns" starts each fit from "flip-turns" (as
    `Predictor.from_checkpoint(refine=True)` does) unless told; the manifest records it and a
    run with other views in the same folder is refused."""
    from openhmr.inference.predictor import Predictor

    torch.manual_seed(0)
    net = HMR(backbone="movenet_lightning", normalization="pixels", image_size=192,
              features="seen-keypoints+blazepose", feedback="keypoints", hidden=32,
              views="mirror-turns", body_model=load_body_model("open"),
              pretrained_encoder=False)  # fmt: skip
    path = save_checkpoint(tmp_path / "views.safetensors", net)
    refine = Predictor.from_checkpoint(str(path), refine=True, body_model="open-annotated")
    assert load_model(str(path), "open-annotated").config.views == refine.model.config.views
    assert refine.model.config.views == "flip-turns"
    assert load_model(str(path), "open-annotated", views="one").config.views == "one"
    index = load_index(split).subset(slice(0, 1))
    source, _ = coco_truth(index)
    config = PseudoLabelConfig(checkpoint=str(path), chunk=1, fit=FIT)
    fit_split(index, tmp_path / "run", load_model(str(path), "open-annotated", views="one"),
              source, config, progress=False)  # fmt: skip
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["views"] == "one"
    with pytest.raises(OpenHMRError, match="other settings"):
        fit_split(index, tmp_path / "run", load_model(str(path), "open-annotated"), source,
                  config, progress=False)  # fmt: skip
