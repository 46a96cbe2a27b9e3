"""The command line: `openhmr body` writes a valid OBJ; bad inputs give one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from openhmr.body import load_body_model
from openhmr.body.poses import named_pose
from openhmr.cli import main


def read_obj(path):
    vertices, faces = [], []
    for line in path.read_text().splitlines():
        kind, *values = line.split()
        if kind == "v":
            vertices.append([float(v) for v in values])
        elif kind == "f":
            faces.append([int(v) - 1 for v in values])
    return np.array(vertices), np.array(faces)


def test_body_command_writes_posed_mesh(tmp_path, smplx_npz):
    out = tmp_path / "sub" / "body.obj"
    code = main(
        [
            "body",
            "--body-model",
            str(smplx_npz),
            "--pose",
            "walk",
            "--betas",
            "1,-0.5",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    vertices, faces = read_obj(out)
    model = load_body_model(smplx_npz)
    with torch.no_grad():
        expected = model(pose=named_pose("walk"), betas=torch.tensor([[1.0, -0.5]])).vertices[0]
    np.testing.assert_allclose(vertices, expected.numpy(), atol=2e-6)
    np.testing.assert_array_equal(faces, model.faces.numpy())
    assert [p.name for p in out.parent.iterdir()] == ["body.obj"]  # no temporary left behind


def test_body_mesh_format_follows_the_extension(tmp_path, smplx_npz):
    """.ply and .glb get those formats (a .ply used to receive OBJ text); OBJ stays the text."""
    heads = {".obj": b"v ", ".ply": b"ply\nformat binary_little_endian", ".glb": b"glTF"}
    for suffix, head in heads.items():
        out = tmp_path / f"body{suffix.upper()}"
        assert main(["body", "--body-model", str(smplx_npz), "--out", str(out)]) == 0
        assert out.read_bytes().startswith(head), suffix


def test_bad_body_model_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openhmr",
            "body",
            "--body-model",
            str(tmp_path / "nope.pkl"),
            "--out",
            str(tmp_path / "x.obj"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "body model file not found" in result.stderr
    assert not (tmp_path / "x.obj").exists()


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "body" in capsys.readouterr().out


def test_convert_command_on_real_lspet(tmp_path, capsys):
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / "lspet" / "joints.mat").exists():
        pytest.skip("needs ../shared/data/lspet")
    assert (
        main(["convert", "lspet", str(SHARED_DATA / "lspet"), str(tmp_path), "--holdout", "0.1"])
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lspet_train.npz", "lspet_val.npz"]
    assert "persons" in capsys.readouterr().out
    assert main(["convert", "coco", str(tmp_path / "missing.json"), str(tmp_path)]) == 2
    assert "COCO annotation file not found" in capsys.readouterr().err


def test_synth_command(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--num", "2", "--parts"]) == 0
    assert (out / "synth.npz").exists() and len(list((out / "parts").iterdir())) == 2
    assert "2 samples" in capsys.readouterr().out
    assert main(["synth", "--out", str(out), "--num", "2", "--size", "8"]) == 2
    assert "--size" in capsys.readouterr().err
