"""tools/relabel_caches.py (the keypoint-move ablation's labels): the same synthetic images made
with the annotator-placed body and with the joint-centre body; relabelling the first's labels
must give the second's, from the SMPL labels alone."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from openhmr.body import load_body_model
from openhmr.data.records import load_index
from openhmr.synth import SynthConfig, generate


def _tool():
    spec = importlib.util.spec_from_file_location(
        "relabel_caches", Path(__file__).parents[1] / "tools" / "relabel_caches.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _labels(index) -> dict[str, np.ndarray]:
    rows = len(index)
    return {
        "keypoints2d": index.keypoints2d.astype(np.float32),
        "joints3d": index.joints3d.astype(np.float32),
        "pose": index.pose.astype(np.float32),
        "betas": index.betas.astype(np.float32),
        "has_smpl": index.has_smpl.copy(),
        "has_3d": np.ones(rows, bool),
    }


def test_relabelled_synthetic_labels_are_the_other_body_models(tmp_path):
    indices = {}
    for name in ("open-annotated", "open"):
        folder = tmp_path / name
        generate(SynthConfig(out=str(folder), num=6, seed=4, body_model=name),
                 progress=False)  # fmt: skip
        indices[name] = load_index(folder / "synth.npz")
    annotated, joint_centre = indices["open-annotated"], indices["open"]
    before = np.abs(annotated.keypoints2d[..., :2] - joint_centre.keypoints2d[..., :2]).max()
    assert before > 1.0  # the two bodies' labels differ by pixels: the check can fail
    tool = _tool()
    source, target = load_body_model("open-annotated"), load_body_model("open")
    out = tool.relabel(_labels(annotated), source, target, synthetic=True)
    np.testing.assert_allclose(out["joints3d"], joint_centre.joints3d, atol=1e-5)
    np.testing.assert_allclose(
        out["keypoints2d"][..., :2], joint_centre.keypoints2d[..., :2], atol=0.1 * before
    )
    real = tool.relabel(_labels(annotated), source, target, synthetic=False)
    np.testing.assert_array_equal(real["keypoints2d"], annotated.keypoints2d)  # annotations
    with pytest.raises(SystemExit, match="does not reproduce"):
        tool.relabel(_labels(joint_centre), source, target, synthetic=True)
