"""Unpaired mocap: the BVH parser against scipy, the BVH -> SMPL conversion against anatomy and
the BVH's own geometry on the real CMU files, pose sets and `openhmr mocap` end to end.

References are independent of the code under test: scipy's Euler angles, hand-written BVH
text, a forward-kinematics loop written here, and known facts (a T-pose is SMPL's zero pose,
knees flex backwards, walking legs alternate, the subject's left is +x when facing +z)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from openhmr.body import load_body_model
from openhmr.body.keypoints import SMPL_JOINT_NAMES, SMPL_PARENTS
from openhmr.cli import main
from openhmr.data.bvh import parse_bvh, read_bvh
from openhmr.data.mocap import (
    PoseSet,
    build_pose_set,
    bvh_to_smpl,
    distinct_pose_indices,
    heading_rotation,
    load_bvh,
    load_pose_set,
    save_pose_set,
    subsample_indices,
    swing_rotation,
)
from openhmr.data.skeletons import CMU_CGSPEED, SMPL_TEMPLATE_JOINTS, SkeletonMap
from openhmr.errors import OpenHMRError

from .conftest import SHARED_DATA

MOCAP = SHARED_DATA / "mocap"
needs_mocap = pytest.mark.skipif(not MOCAP.is_dir(), reason="shared/data/mocap not present")
J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
LIMBS = ("left_hip", "right_hip", "left_knee", "right_knee")
ARMS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow")

# --- independent helpers -----------------------------------------------------------------------


def bvh_positions(motion):
    """World joint positions (F, J, 3) by a plain FK loop over the parsed local transforms."""
    rotations, translations = motion.rotations, motion.translations
    parents = motion.skeleton.parents
    frames, joints = rotations.shape[:2]
    globals_, positions = np.zeros((frames, joints, 3, 3)), np.zeros((frames, joints, 3))
    for j, p in enumerate(parents):
        if p < 0:
            globals_[:, j], positions[:, j] = rotations[:, j], translations[:, j]
        else:
            globals_[:, j] = np.einsum("fab,fbc->fac", globals_[:, p], rotations[:, j])
            positions[:, j] = positions[:, p] + np.einsum(
                "fab,fb->fa", globals_[:, p], translations[:, j]
            )
    return positions


@functools.cache
def body_model():
    """The bundled body model, or None when its file is not built."""
    try:
        return load_body_model("open")
    except OpenHMRError:
        return None


def smpl_template():
    """(24, 3) T-pose joints that define the zero pose for the checks below (and that the
    conversion in these tests aligns limbs to): the bundled body model's rest joints when it is
    present, otherwise the package's SMPL template."""
    model = body_model()
    if model is None:
        return SMPL_TEMPLATE_JOINTS
    return smpl_positions(np.zeros((1, 24, 3)))[0]


def smpl_positions(poses):
    """SMPL joints (F, 24, 3) for axis-angle poses (F, 24, 3): posed with the bundled body model
    when present, otherwise by FK of the SMPL template joints."""
    model = body_model()
    if model is not None:
        with torch.no_grad():
            out = model(pose=torch.as_tensor(poses.reshape(len(poses), -1), dtype=torch.float32))
        return out.joints[:, :24].numpy().astype(np.float64)
    rotations = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(-1, 24, 3, 3)
    globals_, positions = np.zeros_like(rotations), np.zeros((len(poses), 24, 3))
    for j, p in enumerate(SMPL_PARENTS):
        if p < 0:
            globals_[:, j] = rotations[:, j]
        else:
            globals_[:, j] = globals_[:, p] @ rotations[:, j]
            bone = SMPL_TEMPLATE_JOINTS[j] - SMPL_TEMPLATE_JOINTS[p]
            positions[:, j] = positions[:, p] + globals_[:, p] @ bone
    return positions


def angle_deg(a, b):
    """Angle (degrees) between vectors a and b (..., 3)."""
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.rad2deg(np.arccos(np.clip(cos, -1, 1)))


def rest_motion(motion):
    """The skeleton's own rest pose: one frame with every channel rotation zero."""
    joints = len(motion.skeleton.names)
    rotations = np.broadcast_to(np.eye(3), (1, joints, 3, 3)).copy()
    return type(motion)(motion.skeleton, rotations, motion.translations[:1], motion.frame_time)


# --- parser --------------------------------------------------------------------------------------

SMALL_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 1.0 2.0 3.0
  CHANNELS 6 Zposition Xposition Yposition Xrotation Zrotation Yrotation
  JOINT Leg
  {
    OFFSET 0.5 -4.0 0.25
    CHANNELS 3 Yrotation Xrotation Zrotation
    End Site
    {
      OFFSET 0 -3.0 1.0
    }
  }
  JOINT Slide
  {
    OFFSET 0 1 0
    CHANNELS 4 Xposition Zrotation Yposition Xrotation
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0.1 0.2 0.3  10 20 30   40 -50 60   0.5 45 -0.5 90
0 0 0  0 0 0   0 0 0   0 0 0 0
-1 2 -3  170 -80 25   -120 33 7   1 -30 2 -60
"""


def test_parser_matches_scipy_intrinsic_euler():
    motion = parse_bvh(SMALL_BVH)
    values = np.array([line.split() for line in SMALL_BVH.strip().splitlines()[-3:]], float)
    assert motion.skeleton.names == ("Hips", "Leg", "Leg_end", "Slide")
    assert list(motion.skeleton.parents) == [-1, 0, 1, 0]
    assert motion.num_frames == 3 and motion.frame_time == pytest.approx(0.0333333)
    # BVH: channels left to right compose R = R_first · R_second · R_third (intrinsic order)
    hips = Rotation.from_euler("XZY", values[:, 3:6], degrees=True).as_matrix()
    leg = Rotation.from_euler("YXZ", values[:, 6:9], degrees=True).as_matrix()
    slide = Rotation.from_euler("ZX", values[:, [10, 12]], degrees=True).as_matrix()
    np.testing.assert_allclose(motion.rotations[:, 0], hips, atol=1e-12)
    np.testing.assert_allclose(motion.rotations[:, 1], leg, atol=1e-12)
    np.testing.assert_allclose(motion.rotations[:, 3], slide, atol=1e-12)
    np.testing.assert_allclose(motion.rotations[:, 2], np.broadcast_to(np.eye(3), (3, 3, 3)))
    # position channels (any order) add to the offset
    np.testing.assert_allclose(motion.translations[:, 0], [1, 2, 3] + values[:, [1, 2, 0]])
    np.testing.assert_allclose(
        motion.translations[:, 3], values[:, [9, 11]] @ [[1, 0, 0], [0, 1, 0]] + [0, 1, 0]
    )
    # world position of the leg's end site, composed by hand
    end = values[:, [1, 2, 0]] + [1, 2, 3] + np.einsum("fab,b->fa", hips, [0.5, -4.0, 0.25])
    end += np.einsum("fab,fbc,c->fa", hips, leg, [0, -3.0, 1.0])
    np.testing.assert_allclose(bvh_positions(motion)[:, 2], end, atol=1e-12)


def test_parser_reads_gzip_and_reports_bad_files(tmp_path):
    import gzip

    path = tmp_path / "clip.bvh.gz"
    path.write_bytes(gzip.compress(SMALL_BVH.encode()))
    np.testing.assert_allclose(read_bvh(path).rotations, parse_bvh(SMALL_BVH).rotations)
    bad = {
        "no_motion.bvh": SMALL_BVH.split("MOTION")[0],
        "short.bvh": SMALL_BVH.rsplit("\n", 2)[0],
        "channel.bvh": SMALL_BVH.replace("Yrotation Xrotation Zrotation", "Yrotation Wrot Z"),
        "number.bvh": SMALL_BVH.replace("0.5 -4.0", "0.5 abc"),
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(OpenHMRError, match=name):
            read_bvh(tmp_path / name)
    with pytest.raises(OpenHMRError, match="cannot read"):
        read_bvh(tmp_path / "missing.bvh")


# --- conversion math -----------------------------------------------------------------------------


def test_swing_and_heading_rotations():
    rng = np.random.default_rng(0)
    for a, b in rng.normal(size=(20, 2, 3)):
        swing = swing_rotation(a, b)
        np.testing.assert_allclose(swing @ a / np.linalg.norm(a), b / np.linalg.norm(b), atol=1e-9)
        np.testing.assert_allclose(swing @ np.cross(a, b), np.cross(a, b), atol=1e-9)  # no twist
        heading = heading_rotation(a, b)
        assert Rotation.from_matrix(heading).as_rotvec()[[0, 2]] == pytest.approx([0, 0], abs=1e-9)
        turned = heading @ a
        assert angle_deg(turned * [1, 0, 1], b * [1, 0, 1]) < 1e-4
    opposite = swing_rotation(np.array([0.0, -1, 0]), np.array([0.0, 1, 0]))
    np.testing.assert_allclose(opposite @ [0, -1, 0], [0, 1, 0], atol=1e-12)


def test_subsample_and_near_duplicates():
    assert list(subsample_indices(25, 1 / 120, 10)) == [0, 12, 24]
    assert list(subsample_indices(5, 1 / 60, 120)) == [0, 1, 2, 3, 4]
    poses = np.zeros((6, 24, 3))
    poses[2, J["left_knee"], 0] = np.deg2rad(3)  # small change: dropped at 5°
    poses[3:, J["left_knee"], 0] = np.deg2rad(8)  # then held: kept once
    poses[5, 0] = [0, 3, 0]  # the root alone does not count
    assert list(distinct_pose_indices(poses, 5.0)) == [0, 3]
    assert list(distinct_pose_indices(poses, 0.0)) == list(range(6))


# --- real CMU files ------------------------------------------------------------------------------


@needs_mocap
def test_iclone_tpose_frame_is_smpl_zero_pose():
    motion = read_bvh(MOCAP / "cmu_iclone" / "007_03.bvh.gz")
    names = motion.skeleton.names
    first = bvh_positions(motion)[0]

    def bone(a, b):
        return first[names.index(f"CC_Base_{b}")] - first[names.index(f"CC_Base_{a}")]

    # independently: frame 0 is a T-pose facing +z (arms out along ±x, legs down, toes +z)
    assert angle_deg(bone("L_Upperarm", "L_Hand"), np.array([1.0, 0, 0])) < 10
    assert angle_deg(bone("R_Upperarm", "R_Hand"), np.array([-1.0, 0, 0])) < 10
    assert angle_deg(bone("L_Thigh", "L_Foot"), np.array([0, -1.0, 0])) < 10
    assert angle_deg(bone("L_Foot", "L_ToeBase") * [1, 0, 1], np.array([0, 0, 1.0])) < 15
    pose = bvh_to_smpl(motion, "iclone")[0]
    degrees = np.rad2deg(np.linalg.norm(pose, axis=-1))
    limbs = [J[n] for n in LIMBS + ARMS]
    # limbs differ only by the rig's T-pose vs SMPL's (SMPL's legs are ~6° apart)
    assert degrees[limbs].max() < 10, degrees.round(1)
    assert np.delete(degrees, limbs).max() < 1, degrees.round(1)


@needs_mocap
@pytest.mark.parametrize(
    "path", ["cmu_cgspeed/02_01.bvh.gz", "cmu_daz/indian_04.bvh.gz", "cmu_iclone/001_01.bvh.gz"]
)
def test_rest_pose_maps_to_the_pose_the_rest_correction_implies(path):
    """The all-zero-channel rest pose maps to: limb bones (thigh, shin, upper arm, forearm)
    pointing exactly where the rest pose's bones point, every other joint (spine, neck, head,
    collars, wrists, hands, ankles, feet) with zero local rotation (its rest posture is taken as
    SMPL's), and a root facing where the rest pose faces.  cgspeed's rest hangs the arms down
    and spreads the legs ~20°; DAZ's is a T-pose (elbows ~17° bent); iClone's is a tangle
    (every bone's y axis along the bone), unlike its reference T-pose: limbs still follow."""
    motion = rest_motion(read_bvh(MOCAP / path))
    skeleton = load_bvh(MOCAP / path).skeleton  # same hierarchy, checks auto-detection
    assert skeleton.names == motion.skeleton.names
    from openhmr.data.skeletons import detect_skeleton

    joints = detect_skeleton(motion.skeleton.names).joints
    pose = bvh_to_smpl(motion, template_joints=smpl_template())[0]
    bvh = bvh_positions(motion)[0]
    smpl = smpl_positions(pose[None])[0]
    names = motion.skeleton.names
    bones = [
        ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"),
        ("right_hip", "right_knee"),
        ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"),
        ("right_elbow", "right_wrist"),
    ]
    for parent, child in bones:
        expected = bvh[names.index(joints[child])] - bvh[names.index(joints[parent])]
        assert angle_deg(smpl[J[child]] - smpl[J[parent]], expected) < 2, (parent, child)
    degrees = np.rad2deg(np.linalg.norm(pose, axis=-1))
    others = [J[n] for n in SMPL_JOINT_NAMES if n not in LIMBS + ARMS and n != "pelvis"]
    if "iclone" not in path:
        assert degrees[others].max() < 0.5, degrees.round(1)
        assert degrees[J["pelvis"]] < 3  # rest poses face +z
    if "cgspeed" in path:  # arms down: the left upper arm turns from +x to about -y
        assert angle_deg(smpl[J["left_elbow"]] - smpl[J["left_shoulder"]], [0, -1, 0]) < 5
    if "daz" in path:  # a T-pose: close to SMPL's zero pose
        assert degrees[[J[n] for n in LIMBS + ARMS]].max() < 20, degrees.round(1)


@pytest.fixture(scope="module")
def walk():
    """A cgspeed walking clip: parsed motion, its SMPL poses (every frame), BVH positions."""
    if not MOCAP.is_dir():
        pytest.skip("shared/data/mocap not present")
    motion = read_bvh(MOCAP / "cmu_cgspeed" / "02_01.bvh.gz")
    return motion, bvh_to_smpl(motion, "cgspeed", smpl_template()), bvh_positions(motion)


def knee_flexion(positions, names, side):
    hip, knee, ankle = (names.index(f"{side}{n}") for n in ("Hip", "Knee", "Ankle"))
    return angle_deg(
        positions[:, knee] - positions[:, hip], positions[:, ankle] - positions[:, knee]
    )


@needs_mocap
def test_left_knee_bends_when_the_left_leg_bends(walk):
    motion, poses, positions = walk
    names = motion.skeleton.names
    left, right = knee_flexion(positions, names, "Left"), knee_flexion(positions, names, "Right")
    frames = np.flatnonzero(left > right + 30)  # left knee clearly more bent than the right
    assert frames.size >= 5
    smpl_left = np.rad2deg(np.linalg.norm(poses[frames, J["left_knee"]], axis=-1))
    smpl_right = np.rad2deg(np.linalg.norm(poses[frames, J["right_knee"]], axis=-1))
    assert np.all(smpl_left > 35) and np.all(smpl_left > smpl_right + 20)
    # and the knee flexes backwards: rotation about SMPL's +x (lateral) axis
    axis = (
        poses[frames, J["left_knee"]]
        / np.linalg.norm(poses[frames, J["left_knee"]], axis=-1)[:, None]
    )
    assert np.all(axis[:, 0] > 0.9)


@needs_mocap
def test_walking_body_left_is_plus_x_when_facing_plus_z(walk):
    motion, poses, positions = walk
    names = motion.skeleton.names
    hips = positions[:, names.index("LeftHip")] - positions[:, names.index("RightHip")]
    facing_z = np.flatnonzero(hips[:, 0] / np.linalg.norm(hips, axis=-1) > 0.95)
    assert facing_z.size >= 5  # subject's left on +x: facing +z in the y-up BVH world
    smpl = smpl_positions(poses[facing_z])
    assert np.all(smpl[:, J["left_knee"], 0] > smpl[:, J["right_knee"], 0])
    # feet tread close to the line of walking, so the ankles only on average
    assert np.mean(smpl[:, J["left_ankle"], 0] - smpl[:, J["right_ankle"], 0]) > 0.02
    assert np.all(smpl[:, J["left_wrist"], 0] > smpl[:, J["right_wrist"], 0])
    # on every frame, limb chords (hip -> ankle, shoulder -> wrist) point as in the BVH
    smpl = smpl_positions(poses[::5])
    for (a, b), (c, d) in [
        (("left_hip", "left_ankle"), ("LeftHip", "LeftAnkle")),
        (("right_hip", "right_ankle"), ("RightHip", "RightAnkle")),
        (("left_shoulder", "left_wrist"), ("LeftShoulder", "LeftWrist")),
        (("right_shoulder", "right_wrist"), ("RightShoulder", "RightWrist")),
    ]:
        expected = positions[::5, names.index(d)] - positions[::5, names.index(c)]
        assert np.all(angle_deg(smpl[:, J[b]] - smpl[:, J[a]], expected) < 10), (a, b)


@needs_mocap
def test_walking_hips_alternate(walk):
    _, poses, _ = walk
    local = Rotation.from_rotvec(poses[:, [J["left_hip"], J["right_hip"]]].reshape(-1, 3))
    thigh = local.apply([0, -1, 0]).reshape(-1, 2, 3)  # thigh direction in the pelvis frame
    flexion = np.arctan2(thigh[..., 2], -thigh[..., 1])  # forward swing, radians
    assert np.ptp(flexion[:, 0]) > np.deg2rad(30)
    assert np.corrcoef(flexion[:, 0], flexion[:, 1])[0, 1] < -0.3


@needs_mocap
def test_custom_map_file_matches_builtin(tmp_path):
    path = tmp_path / "rig.json"
    path.write_text(json.dumps({"name": "rig", "joints": dict(CMU_CGSPEED.joints)}))
    motion = read_bvh(MOCAP / "cmu_cgspeed" / "02_01.bvh.gz")
    np.testing.assert_allclose(bvh_to_smpl(motion, path), bvh_to_smpl(motion, "cgspeed"))
    flat = tmp_path / "flat.yaml"
    flat.write_text("\n".join(f"{k}: {v}" for k, v in CMU_CGSPEED.joints.items()))
    np.testing.assert_allclose(bvh_to_smpl(motion, flat), bvh_to_smpl(motion, "cgspeed"))
    with pytest.raises(OpenHMRError, match="lacks"):
        bvh_to_smpl(motion, "daz")
    with pytest.raises(OpenHMRError, match="unknown SMPL joints"):
        SkeletonMap("bad", {"pelvis": "Hips", "left_toe": "LeftToe"})


# --- pose sets and the command line ---------------------------------------------------------------


def test_load_amass_style_npz(tmp_path):
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 0.3, (7, 156))
    poses[:, :3] = [np.pi / 2, 0, 0]  # an upright body in AMASS's z-up world
    path = tmp_path / "amass.npz"
    np.savez(path, poses=poses, betas=rng.normal(size=16), mocap_framerate=np.array(120.0))
    pose_set = load_pose_set(path)
    assert pose_set.poses.shape == (7, 72) and pose_set.poses.dtype == np.float32
    np.testing.assert_allclose(pose_set.poses[:, :3], 0, atol=1e-6)  # y-up: upright = zero
    np.testing.assert_allclose(pose_set.poses[:, 3:66], poses[:, 3:66], rtol=1e-6)
    assert not pose_set.poses[:, 66:].any()  # SMPL-H fingers are not SMPL's hand joints
    assert pose_set.betas.shape == (7, 10) and pose_set.meta["fps"] == 120.0
    out = tmp_path / "ours.npz"
    save_pose_set(out, PoseSet(pose_set.poses, np.zeros(7, np.int32), ("a",), None, {"x": 1}))
    again = load_pose_set(out)
    np.testing.assert_array_equal(again.poses, pose_set.poses)
    assert again.betas is None and again.meta == {"x": 1} and again.sources == ("a",)


@needs_mocap
def test_mocap_command_end_to_end(tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in [
        "cmu_cgspeed/02_01.bvh.gz",
        "cmu_daz/indian_04.bvh.gz",
        "cmu_iclone/007_03.bvh.gz",
    ]:
        (folder / name.split("/")[1]).write_bytes((MOCAP / name).read_bytes())
    (folder / "broken.bvh").write_text("HIERARCHY\nROOT x\n{\n")
    out = tmp_path / "poses.npz"
    assert main(["mocap", str(folder), "--out", str(out), "--fps", "10", "--min-change", "2"]) == 0
    captured = capsys.readouterr()
    assert "broken.bvh" in captured.err and "wrote" in captured.out
    with np.load(out, allow_pickle=False) as npz:
        assert set(npz.files) == {"poses", "source", "sources", "meta"}
        poses, source, sources = npz["poses"], npz["source"], list(npz["sources"])
        meta = json.loads(str(npz["meta"]))
    assert poses.dtype == np.float32 and poses.shape[1] == 72 and np.isfinite(poses).all()
    assert len(sources) == 3 and set(np.unique(source)) == {0, 1, 2}
    assert meta["skeletons"] == {"cmu_cgspeed": 1, "cmu_daz": 1, "cmu_iclone": 1}
    assert meta["skipped"] == [str(folder / "broken.bvh")] and meta["poses"] == len(poses)
    # ~10 fps: the 2.9 s cgspeed clip gives at most 29 poses
    assert 10 <= (source == sources.index(str(folder / "02_01.bvh.gz"))).sum() <= 29
    assert len(load_pose_set(out)) == len(poses)
    # a bad file named explicitly is one error line and exit code 2, with no output written
    bad_out = tmp_path / "bad.npz"
    assert main(["mocap", str(folder / "broken.bvh"), "--out", str(bad_out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("openhmr mocap: error:") and "broken.bvh" in err[-1]
    assert not bad_out.exists()


def test_bad_settings_are_one_error_before_any_file_is_read(tmp_path):
    """An unknown --skeleton used to be reported once per file (then once more); a rate or
    threshold out of range is refused outright."""
    for i in range(3):
        (tmp_path / f"clip{i}.bvh").write_text(SMALL_BVH)
    warnings: list[str] = []
    with pytest.raises(OpenHMRError, match="skeleton: expected 'auto', one of"):
        build_pose_set([tmp_path], skeleton="foo", warn=warnings.append)
    for fps in (0.0, -5.0):
        with pytest.raises(OpenHMRError, match="fps: expected a number > 0"):
            build_pose_set([tmp_path], fps=fps, warn=warnings.append)
    with pytest.raises(OpenHMRError, match="min_change_deg: expected a number ≥ 0"):
        build_pose_set([tmp_path], min_change_deg=-1, warn=warnings.append)
    assert warnings == []
