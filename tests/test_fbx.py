"""FBX through Blender's own exporter (`openhmr.video.fbx`), read back with Blender's own FBX
importer in a fresh scene (tests/blender_read_fbx.py, run by the same Python with bpy).

These need a Python with bpy: $OPENHMR_BLENDER_PYTHON, or bpy in this one; `make test` and
`make test-fbx` make `.venv-fbx` (Python 3.11, bpy) and point the variable at it. Without one
they skip, except the checks that the missing extra is one clear error.

Tolerances: Blender keeps transforms in float32 and FBX animation curves are float32 Euler
angles in degrees, so what went GLB -> Blender -> FBX -> Blender carries float32 rounding:
measured below 7e-7 rad on joint rotations, 9e-6 m on joint positions and 7e-6 m on skinned
vertices. The bounds, 1e-4 rad and 0.1 mm, sit ~100x above that and far below what a wrong
axis (> 1 rad here), joint or frame (one frame off: a median 0.015 rad) would give.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from openhmr.body import load_body_model
from openhmr.body.keypoints import SMPL_PARENTS
from openhmr.errors import OpenHMRError
from openhmr.video import fbx
from tests.test_video import _animated_case, moving_photo_clip

READER = Path(__file__).with_name("blender_read_fbx.py")
ROOT = Path(__file__).resolve().parents[1]
# camera axes (x right, y down, z forward) -> Blender's world (z up, y away from the viewer)
CAMERA_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
FBX_TICKS_PER_SECOND = 46_186_158_000
FRAME = 9  # the skinned meshes are compared here, where both people are in view


@pytest.fixture(scope="module")
def blender() -> str:
    try:
        return fbx.blender_python()
    except OpenHMRError as err:
        pytest.skip(f"no Python with bpy (make test-fbx): {err}")


@pytest.fixture(scope="module")
def body():
    import torch

    torch.set_num_threads(1)
    return load_body_model("open")


def _cut(track, start, stop):
    """The track over its rows start..stop-1 (a person seen over part of the clip)."""
    rows = {
        name: value[start:stop]
        for name, value in dataclasses.asdict(track).items()
        if isinstance(value, np.ndarray) and value.ndim and len(value) == track.num_frames
    }
    return dataclasses.replace(track, **rows)


def _tracks(body):
    tracks = _animated_case(body)  # two people, frames 0..19
    return [tracks[0], _cut(tracks[1], 5, 15)]  # the second one seen over frames 5..14 only


def _write_and_read(body, tracks, tmp_path, blender, fps):
    from openhmr.video.gltf import write_animated_glb

    write_animated_glb(tmp_path / "a.glb", body, tracks, fps=fps)
    last_frame = max(int(t.frames[-1]) for t in tracks)
    fbx.write_fbx(tmp_path / "a.fbx", tmp_path / "a.glb", fps, last_frame, blender)
    subprocess.run(
        [blender, str(READER), str(tmp_path / "a.fbx"), str(tmp_path / "a.json"), str(FRAME)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return json.loads((tmp_path / "a.json").read_text())


def _angle(a, b):
    """Angle (rad) between rotation matrices a and b (..., 3, 3), through quaternions (the
    arccos of the trace loses everything below ~1e-4 rad to float32 inputs)."""
    a, b = a.reshape(-1, 3, 3), b.reshape(-1, 3, 3)
    return (Rotation.from_matrix(a).inv() * Rotation.from_matrix(b)).magnitude()


def test_fbx_reads_back_through_blender_to_the_track(body, blender, tmp_path):
    from openhmr.video.evaluate import body_joints

    tracks = _tracks(body)
    read = _write_and_read(body, tracks, tmp_path, blender, fps=30.0)
    header = (tmp_path / "a.fbx").read_bytes()[:27]
    assert header[:23] == fbx.FBX_BINARY_HEADER
    assert int.from_bytes(header[23:27], "little") >= 7400  # FBX 7.4 or later
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries
    assert read["fps"] == pytest.approx(30.0) and read["last_frame"] == 19
    assert sorted(read["armatures"]) == [f"person{t.id}" for t in tracks]
    vertices = body.data.num_vertices
    for track in tracks:
        armature = read["armatures"][f"person{track.id}"]
        joints = [f"person{track.id}_joint{j}" for j in range(24)]
        order = [armature["bones"].index(name) for name in joints]  # 24 bones, no leaf bones
        assert len(armature["bones"]) == 24
        parents = [armature["parents"][k] for k in order]
        assert parents == [None] + [joints[p] for p in SMPL_PARENTS[1:]]
        mesh = read["meshes"][f"person{track.id}_body"]
        assert mesh["parent"] == f"person{track.id}" and sorted(mesh["groups"]) == sorted(joints)
        assert mesh["vertices"] == vertices and mesh["max_groups_per_vertex"] == 4

        objects = np.array(armature["object"])  # (F, 4, 4)
        shown = np.zeros(len(objects), bool)
        shown[track.frames] = True
        # outside the track's frames the person is scaled to nothing, inside to 1
        np.testing.assert_allclose(objects[~shown, :3, :3], 0.0, atol=1e-6)
        np.testing.assert_allclose(np.linalg.det(objects[shown, :3, :3]), 1.0, atol=1e-5)

        posed = np.array(armature["posed"])[track.frames][:, order]  # (T, 24, 4, 4) world
        rest = np.array(armature["rest"])[order]  # (24, 4, 4) armature space
        rest_world = objects[track.frames][:, None] @ rest  # T x 24 x 4 x 4
        # each joint's world rotation relative to its rest, then relative to its parent's
        world = posed[..., :3, :3] @ np.swapaxes(rest_world[..., :3, :3], -1, -2)
        local = world.copy()
        local[:, 1:] = np.swapaxes(world[:, SMPL_PARENTS[1:]], -1, -2) @ world[:, 1:]
        want = Rotation.from_rotvec(track.pose.reshape(-1, 3)).as_matrix()
        want = CAMERA_TO_BLENDER @ want.reshape(len(track.frames), 24, 3, 3) @ CAMERA_TO_BLENDER.T
        assert _angle(local, want).max() < 1e-4
        # the joints land where the body model puts them (metres, Blender's world)
        joints_want = body_joints(body, track.pose, track.betas) + track.transl[:, None]
        np.testing.assert_allclose(posed[..., :3, 3], joints_want @ CAMERA_TO_BLENDER.T, atol=1e-4)
        # and Blender's armature deforms the mesh as linear blend skinning does with the
        # GLB's four strongest weights (the FBX's skin binds right)
        row = FRAME - int(track.frames[0])
        skinned = _linear_blend_skinning(body, track, row) @ CAMERA_TO_BLENDER.T
        np.testing.assert_allclose(mesh["deformed"], skinned, atol=1e-4)


def _linear_blend_skinning(body, track, row):
    """(V, 3) the track's rest mesh at `row` by LBS without pose correctives (camera axes)."""
    import torch

    from openhmr.video.gltf import top_weights

    with torch.no_grad():
        rest = body(betas=torch.as_tensor(track.betas[row : row + 1], dtype=torch.float32))
        posed = body(
            torch.as_tensor(track.pose[row : row + 1], dtype=torch.float32),
            torch.as_tensor(track.betas[row : row + 1], dtype=torch.float32),
        )
    vertices, rest_joints = rest.vertices[0].double().numpy(), rest.joints[0].double().numpy()
    posed_joints = posed.joints[0].double().numpy() + track.transl[row]
    local = Rotation.from_rotvec(track.pose[row]).as_matrix()
    world = local.copy()
    for j in range(1, 24):
        world[j] = world[SMPL_PARENTS[j]] @ local[j]
    joints, weights = top_weights(body.skinning_weights.T.double().numpy())
    moved = np.einsum("jab,vb->vja", world, vertices) - np.einsum("jab,jb->ja", world, rest_joints)
    moved += posed_joints  # V x 24 x 3: each vertex carried by each joint
    return np.einsum("vk,vka->va", weights, np.take_along_axis(moved, joints[..., None], 1))


def test_fbx_keys_every_frame_at_a_video_rate(body, blender, tmp_path):
    """At NTSC's 30000/1001 frames/s the file keys frame f at f · 1001/30000 s (Blender's FBX
    importer rounds the rate to 30 when it reads keys back, so the file itself is checked)."""
    rate = 30000 / 1001
    read = _write_and_read(body, _tracks(body), tmp_path, blender, fps=rate)
    assert read["file"]["CustomFrameRate"] == pytest.approx(rate, rel=1e-4)
    want = np.arange(20) / rate * FBX_TICKS_PER_SECOND
    curves = read["file"]["key_times"]
    assert len(curves) >= 2 * 24 * 3  # rotations of every joint of both people, at least
    for times in curves:
        np.testing.assert_allclose(times, want, atol=2)  # ticks of 1/46186158000 s


def test_demo_track_writes_fbx(blender, tmp_path):
    from openhmr.cli import main

    clip = tmp_path / "clip.mp4"
    moving_photo_clip(clip, frames=8)
    out = tmp_path / "out"
    main(["demo", str(clip), "--track", "--fbx", "--blender-python", blender, "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == [
        "clip_track0.bvh",
        "clip_track0.npz",
        "clip_tracked.mp4",
        "clip_tracks.fbx",
        "clip_tracks.glb",
    ]
    assert (out / "clip_tracks.fbx").read_bytes()[:23] == fbx.FBX_BINARY_HEADER


def _demo_error(argv, capfd) -> str:
    from openhmr.cli import main

    code = main(argv)
    err = capfd.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    return err.strip()


def test_fbx_without_bpy_is_one_error_naming_the_extra(tmp_path, monkeypatch, capfd):
    if importlib.util.find_spec("bpy") is not None:
        pytest.skip("bpy is installed in this Python")
    monkeypatch.delenv(fbx.ENVIRONMENT_VARIABLE, raising=False)
    clip = tmp_path / "clip.mp4"
    moving_photo_clip(clip, frames=2)
    out = tmp_path / "out"
    err = _demo_error(["demo", str(clip), "--track", "--fbx", "--out", str(out)], capfd)
    assert "bpy" in err and "pip install 'openhmr[fbx]'" in err and fbx.BPY_REQUIREMENT in err
    assert not out.exists()


def test_fbx_with_a_python_without_bpy_is_one_error(tmp_path, capfd):
    if importlib.util.find_spec("bpy") is not None:
        pytest.skip("bpy is installed in this Python")
    clip = tmp_path / "clip.mp4"
    moving_photo_clip(clip, frames=2)
    out = tmp_path / "out"
    argv = ["demo", str(clip), "--track", "--fbx", "--blender-python", sys.executable]
    err = _demo_error([*argv, "--out", str(out)], capfd)
    assert "expected a Python with bpy" in err and "No module named 'bpy'" in err
    assert not out.exists()


def test_extra_and_make_pin_the_bpy_the_code_names():
    assert f'fbx = ["{fbx.BPY_REQUIREMENT}"]\n' in (ROOT / "pyproject.toml").read_text()
    version = fbx.BPY_REQUIREMENT.split("==")[1]
    assert f"BPY_VERSION ?= {version}\n" in (ROOT / "Makefile").read_text()
