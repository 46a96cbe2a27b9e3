"""Video stage: synthetic sequences, tracking, smoothing, metrics (issue 28)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from openhmr import OpenHMRError
from openhmr.body import load_body_model
from openhmr.video.evaluate import motion_metrics
from openhmr.video.metrics import acceleration_error, tracking_metrics
from openhmr.video.smooth import (
    collect_tracks,
    gaussian_fill,
    rotations_from_6d,
    rotations_to_6d,
    smooth_track,
)
from openhmr.video.synthetic import make_sequence, mocap_files, simulate_estimates
from openhmr.video.track import Tracker, iou, track_frames
from tests.conftest import SHARED_DATA

MOCAP = SHARED_DATA / "mocap"


@pytest.fixture(scope="module")
def body():
    torch.set_num_threads(1)
    return load_body_model("open")


def _run(body, seed, people, frames=150, mocap=None):
    sequence = make_sequence(body, np.random.default_rng(seed), people, frames, mocap=mocap)
    estimates = simulate_estimates(sequence, np.random.default_rng(1000 + seed))
    ids = track_frames(estimates)
    return sequence, estimates, ids


@pytest.mark.parametrize(("seed", "people"), [(11, 2), (12, 3), (13, 4)])
def test_tracking_keeps_identities_where_paths_cross(body, seed, people):
    sequence, estimates, ids = _run(body, seed, people)
    # the paths do cross: someone is mostly hidden behind someone else at some point
    assert sequence.occlusion.max() > 0.5
    metrics = tracking_metrics([e.truth for e in estimates], ids, sequence.visible)
    assert metrics.switches_per_100 <= 1.0
    present = sequence.visible.sum(1) >= 10
    assert (metrics.coverage[present] >= 0.9).all()


@pytest.mark.skipif(not MOCAP.is_dir(), reason="needs ../shared/data/mocap")
def test_tracking_and_smoothing_on_cmu_motion(body):
    files = mocap_files(MOCAP)
    sequence, estimates, ids = _run(body, 21, 3, mocap=files)
    assert sequence.pose_source == "cmu"
    metrics = tracking_metrics([e.truth for e in estimates], ids, sequence.visible)
    assert metrics.switches_per_100 <= 1.0
    raw = collect_tracks(estimates, ids)
    motion = motion_metrics(body, sequence, raw, [smooth_track(t) for t in raw])
    assert motion.accel_smooth <= 0.5 * motion.accel_raw
    assert motion.mpjpe_smooth <= motion.mpjpe_raw + 2.0


@pytest.mark.parametrize(("seed", "people"), [(31, 2), (32, 4)])
def test_smoothing_meets_acceptance(body, seed, people):
    sequence, estimates, ids = _run(body, seed, people)
    raw = collect_tracks(estimates, ids)
    motion = motion_metrics(body, sequence, raw, [smooth_track(t) for t in raw])
    assert motion.frames > 100
    assert motion.accel_smooth <= 0.5 * motion.accel_raw
    assert motion.mpjpe_smooth <= motion.mpjpe_raw + 2.0


def test_tracker_survives_missed_frames_and_starts_new_ids():
    tracker = Tracker()
    keypoints = np.zeros((1, 19, 2))
    betas, depth = np.zeros((1, 10)), np.array([5.0])
    box = np.array([[100.0, 100.0, 150.0, 250.0]])
    seen = []
    for f in range(30):
        step = np.array([[2.0 * f, 0, 2.0 * f, 0]])
        if 10 <= f < 18:  # missed for 8 frames, keeps moving
            seen.append(
                tracker.update(np.zeros((0, 4)), np.zeros((0, 19, 2)), betas[:0], depth[:0])
            )
            continue
        kp = keypoints + (box + step)[:, None, :2]
        seen.append(tracker.update(box + step, kp, betas, depth))
    ids = np.concatenate(seen)
    assert (ids == ids[0]).all()
    far = np.array([[400.0, 100.0, 450.0, 250.0]])
    new = tracker.update(far, keypoints + far[:, None, :2], betas, depth)
    assert new[0] != ids[0]


def test_carried_boxes_move_matched_tracks_by_their_velocity():
    """A box walking 3 px a frame right: the track carries it 3 px on; a track missed in the
    last frame is not carried (a skipped detector frame reads only people just seen)."""
    tracker = Tracker()
    betas, depth = np.zeros((1, 10)), np.array([5.0])
    box = np.array([[100.0, 100.0, 150.0, 250.0]])
    for f in range(4):
        moved = box + np.array([[3.0 * f, 0, 3.0 * f, 0]])
        tracker.update(moved, np.repeat(moved[:, None, :2], 19, axis=1), betas, depth)
    np.testing.assert_allclose(tracker.carried_boxes(), box + np.array([[12.0, 0, 12.0, 0]]))
    tracker.update(np.zeros((0, 4)), np.zeros((0, 19, 2)), betas[:0], depth[:0])
    assert tracker.carried_boxes().shape == (0, 4)


def test_detector_every_other_frame_reads_people_at_their_carried_boxes():
    """detect_and_track(detect_every=2): the detector runs on frames 0, 2, 4; frames 1 and 3
    read each person at the box their track predicts (moved by its velocity), so the ids
    hold."""
    from types import SimpleNamespace

    from openhmr.video.pipeline import detect_and_track

    calls = {"detect": [], "boxes": []}

    def at(f: int) -> np.ndarray:  # two people walking apart, x, y, w, h
        return np.array([[100.0 - 4 * f, 50.0, 60.0, 150.0], [300.0 + 4 * f, 60.0, 60.0, 140.0]])

    class Recorder:  # the Predictor's two calls, answering with a person per box
        frame = 0

        def detect(self, image):
            calls["detect"].append(self.frame)
            return at(self.frame)

        def predict_many(self, images, boxes):
            calls["boxes"].append(np.array(boxes[0].boxes))
            people = [
                SimpleNamespace(
                    bbox=b, keypoints2d=np.tile([b[0], b[1], 1.0], (19, 1)),
                    pose=np.zeros((24, 3)), betas=np.zeros(10), translation=np.array([0, 0, 5.0]),
                    camera=np.ones(3),
                )
                for b in boxes[0].boxes
            ]  # fmt: skip
            self.frame += 1
            return [people]

    frames = [np.zeros((240, 400, 3), np.uint8)] * 5
    ids = [i for _, i, _ in detect_and_track(Recorder(), frames, detect_every=2)]
    assert calls["detect"] == [0, 2, 4]
    assert all((i == ids[0]).all() for i in ids) and len(set(ids[0])) == 2
    np.testing.assert_allclose(calls["boxes"][1], at(0))  # no velocity known yet
    left, right = calls["boxes"][3][:, 0]  # carried on from frame 2, each its own way
    assert at(3)[0, 0] <= left < at(2)[0, 0] and at(2)[1, 0] < right <= at(3)[1, 0]
    assert calls["boxes"][3][1, 0] + calls["boxes"][3][1, 2] <= 400  # clipped to the frame
    with pytest.raises(OpenHMRError, match="detect every: expected a whole number"):
        next(detect_and_track(Recorder(), frames, detect_every=0))


def test_tracker_new_id_after_track_expires():
    tracker = Tracker()
    box, kp = np.array([[0.0, 0, 10, 30]]), np.zeros((1, 19, 2))
    first = tracker.update(box, kp, np.zeros((1, 10)), np.ones(1))
    for _ in range(tracker.config.max_missed + 1):
        tracker.update(np.zeros((0, 4)), np.zeros((0, 19, 2)), np.zeros((0, 10)), np.zeros(0))
    again = tracker.update(box, kp, np.zeros((1, 10)), np.ones(1))
    assert again[0] != first[0]


def test_iou_against_hand_computed():
    a = np.array([0.0, 0, 2, 2])
    b = np.array([1.0, 1, 3, 3])
    assert iou(a, b) == pytest.approx(1 / 7)
    assert iou(a, a) == pytest.approx(1.0)
    assert iou(a, np.array([5.0, 5, 6, 6])) == 0.0


def test_tracking_metrics_counts_a_switch_and_coverage():
    visible = np.ones((2, 4), dtype=bool)
    truth = [np.array([0, 1]), np.array([0, 1]), np.array([1]), np.array([1, 0])]
    ids = [np.array([5, 6]), np.array([5, 6]), np.array([6]), np.array([6, 7])]
    metrics = tracking_metrics(truth, ids, visible)
    assert metrics.switches == 1  # person 0: 5, 5, -, 7
    assert metrics.switches_per_100 == pytest.approx(100 / 8)
    np.testing.assert_allclose(metrics.coverage, [0.75, 1.0])


def test_acceleration_error_analytic():
    t = np.arange(10.0)[:, None, None]
    truth = np.zeros((10, 2, 3))
    pred = truth.copy()
    pred[:, 1, 0] = 0.5 * 3.0 * t[:, 0, 0] ** 2  # constant acceleration 3 of one joint
    assert acceleration_error(pred, truth) == pytest.approx(1.5)  # mean over the two joints


def test_gaussian_fill_matches_naive_weighted_line_fit():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 3))
    observed = rng.random(40) > 0.3
    sigma = 2.0
    out = gaussian_fill(values, observed, sigma)
    j = np.arange(40)
    for i in range(40):
        keep = observed & (np.abs(j - i) <= 6)
        w = np.exp(-0.5 * ((j[keep] - i) / sigma) ** 2)
        if keep.sum() >= 2:  # weighted least-squares line (np.polyfit weights the residuals)
            want = [np.polyval(np.polyfit(j[keep], v, 1, w=np.sqrt(w)), i) for v in values[keep].T]
        else:
            want = values[keep][0]
        np.testing.assert_allclose(out[i], want, atol=1e-9)


def test_gaussian_fill_keeps_steady_motion_at_track_ends():
    line = 3.0 + 0.7 * np.arange(20.0)[:, None]
    observed = np.ones(20, dtype=bool)
    observed[[0, 5, 6, 7]] = False
    np.testing.assert_allclose(gaussian_fill(line, observed, 2.0), line, atol=1e-9)


def test_6d_round_trip_and_constant_rotations_unchanged():
    rng = np.random.default_rng(1)
    rotvec = Rotation.random(50, random_state=2).as_rotvec()
    back = rotations_from_6d(rotations_to_6d(rotvec))
    angle = (Rotation.from_rotvec(back).inv() * Rotation.from_rotvec(rotvec)).magnitude()
    assert angle.max() < 1e-9
    # a constant rotation near π (where axis-angle components flip) stays put under smoothing
    # one rotation written both ways: (π - ε) about z and (π + ε) about -z
    angle = np.where(rng.random(30) > 0.5, np.pi - 1e-3, -(np.pi + 1e-3))
    near_pi = np.stack([np.zeros(30), np.zeros(30), angle], axis=-1)
    six = gaussian_fill(rotations_to_6d(near_pi), np.ones(30, dtype=bool), 2.0)
    smoothed = rotations_from_6d(six)
    err = (Rotation.from_rotvec(smoothed).inv() * Rotation.from_rotvec(near_pi)).magnitude()
    assert err.max() < 1e-6


def _bvh_case(body):
    from openhmr.video.evaluate import body_joints

    sequence = make_sequence(body, np.random.default_rng(41), 1, 12)
    pose, transl, betas = sequence.pose[0], sequence.transl[0], sequence.betas[0]
    rest = body_joints(body, np.zeros((1, 24, 3)), betas[None])[0]
    posed = body_joints(body, pose, np.repeat(betas[None], len(pose), 0)) + transl[:, None]
    return pose, transl, rest, posed


def _expected_local(pose):
    from openhmr.video.bvh import CAMERA_TO_BVH

    local = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(*pose.shape[:2], 3, 3)
    local[:, 0] = CAMERA_TO_BVH @ local[:, 0]
    return local


def test_bvh_reads_back_through_openhmr_importer(body, tmp_path):
    from openhmr.body.keypoints import SMPL_JOINT_NAMES
    from openhmr.data.bvh import forward_kinematics, read_bvh
    from openhmr.video.bvh import CAMERA_TO_BVH, write_bvh

    pose, transl, rest, posed = _bvh_case(body)
    write_bvh(tmp_path / "t.bvh", pose, transl, rest, fps=30.0)
    motion = read_bvh(tmp_path / "t.bvh")
    assert motion.num_frames == len(pose) and motion.fps == pytest.approx(30.0)
    index = [motion.skeleton.index(name) for name in SMPL_JOINT_NAMES]
    got = motion.rotations[:, index]
    want = _expected_local(pose)
    angle = np.arccos(
        np.clip((np.trace(np.swapaxes(got, -1, -2) @ want, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    )
    assert angle.max() < 1e-3
    # and forward kinematics of the file lands on the body model's posed joints (y-up world)
    _, positions = forward_kinematics(
        motion.skeleton.parents, motion.rotations, motion.translations
    )
    np.testing.assert_allclose(positions[:, index], posed @ CAMERA_TO_BVH.T, atol=1e-4)


def test_bvh_reads_back_through_pypi_bvh_library(body, tmp_path):
    bvh = pytest.importorskip("bvh")
    from openhmr.body.keypoints import SMPL_JOINT_NAMES
    from openhmr.video.bvh import write_bvh

    pose, transl, rest, _ = _bvh_case(body)
    write_bvh(tmp_path / "t.bvh", pose, transl, rest, fps=25.0)
    mocap = bvh.Bvh((tmp_path / "t.bvh").read_text())
    assert mocap.nframes == len(pose) and mocap.frame_time == pytest.approx(0.04)
    assert set(SMPL_JOINT_NAMES) <= set(mocap.get_joints_names())
    want = _expected_local(pose)
    for j, name in enumerate(SMPL_JOINT_NAMES):
        channels = ["Zrotation", "Yrotation", "Xrotation"]
        assert [c for c in mocap.joint_channels(name) if c.endswith("rotation")] == channels
        angles = np.array([mocap.frame_joint_channels(f, name, channels) for f in range(len(pose))])
        got = Rotation.from_euler("ZYX", angles, degrees=True)
        err = (got.inv() * Rotation.from_matrix(want[:, j])).magnitude()
        assert err.max() < 1e-3, name


def test_bvh_rejects_zero_fps(body, tmp_path):
    from openhmr.errors import OpenHMRError
    from openhmr.video.bvh import write_bvh

    pose, transl, rest, _ = _bvh_case(body)
    with pytest.raises(OpenHMRError, match="frame rate"):
        write_bvh(tmp_path / "t.bvh", pose, transl, rest, fps=0.0)
    assert not list(tmp_path.iterdir())


def moving_photo_clip(path, frames=12, fps=24.0, width=640, height=360, step=12):
    """A clip (mp4v) of the bundled photo, height × height, sliding right `step` px a frame
    over grey (one person the detector finds), written with OpenCV."""
    import cv2

    from openhmr.inference.predictor import ASSETS

    photo = cv2.resize(cv2.imread(str(ASSETS / "astronaut.jpg")), (height, height))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for f in range(frames):
        frame = np.full((height, width, 3), 90, np.uint8)
        x = round(height / 18) + step * f
        frame[:, x : x + height] = photo[:, : width - x]
        writer.write(frame)
    writer.release()


def test_demo_track_writes_one_track_per_person(tmp_path):
    import cv2

    from openhmr.cli import main
    from openhmr.data.bvh import read_bvh

    clip = tmp_path / "clip.mp4"
    moving_photo_clip(clip)
    out = tmp_path / "out"
    main(["demo", str(clip), "--track", "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == [
        "clip_track0.bvh",
        "clip_track0.npz",
        "clip_tracked.mp4",
        "clip_tracks.glb",
    ]
    data = np.load(out / "clip_track0.npz")
    assert data["observed"].all() and list(data["frame"]) == list(range(12))
    assert data["pose"].shape == (12, 24, 3) and data["betas"].shape == (10,)
    assert float(data["fps"]) == pytest.approx(24.0)
    # the box follows the photo: 12 px per frame to the right
    speed = np.diff(data["bbox"][:, [0, 2]].mean(1)).mean()
    assert speed == pytest.approx(12.0, abs=2.0)
    motion = read_bvh(out / "clip_track0.bvh")
    assert motion.num_frames == 12
    capture = cv2.VideoCapture(str(out / "clip_tracked.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    capture.release()


VALIDATOR = Path(__file__).resolve().parents[1] / "tools" / "gltf"


def _read_glb(path):
    """JSON and accessor arrays of a .glb, read with struct and numpy alone."""
    import json
    import struct

    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF" and version == 2 and total == len(data)
    json_len = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20 : 20 + json_len])
    binary = data[20 + json_len + 8 :]
    sizes = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}
    kinds = {5126: np.float32, 5123: np.uint16, 5125: np.uint32}

    def accessor(i):
        a = gltf["accessors"][i]
        view = gltf["bufferViews"][a["bufferView"]]
        n = a["count"] * sizes[a["type"]]
        flat = np.frombuffer(binary, kinds[a["componentType"]], n, view["byteOffset"])
        return flat.reshape(a["count"], -1)

    return gltf, accessor


def _animated_case(body, frames=20):
    sequence = make_sequence(body, np.random.default_rng(51), 2, frames)
    estimates = simulate_estimates(sequence, np.random.default_rng(52))
    raw = collect_tracks(estimates, track_frames(estimates))
    return [smooth_track(t) for t in raw]


def _world_transforms(gltf, accessor, k):
    """Every node's world matrix (4, 4) at keyframe k, composed down the hierarchy from the
    file's own transforms and animation channels."""
    nodes = gltf["nodes"]
    animated = {}  # (node, path) -> keyframe values
    animation = gltf["animations"][0]
    for channel in animation["channels"]:
        sampler = animation["samplers"][channel["sampler"]]
        animated[channel["target"]["node"], channel["target"]["path"]] = accessor(sampler["output"])
    parent = {c: i for i, n in enumerate(nodes) for c in n.get("children", [])}

    def local(i):
        node = nodes[i]
        t = animated.get((i, "translation"), [node.get("translation", [0, 0, 0])] * 99)[k]
        q = animated.get((i, "rotation"), [node.get("rotation", [0, 0, 0, 1])] * 99)[k]
        m = np.eye(4)
        m[:3, :3] = Rotation.from_quat(q).as_matrix()
        m[:3, 3] = t
        return m

    def world(i):
        m = local(i)
        while i in parent:
            i = parent[i]
            m = local(i) @ m
        return m

    return {i: world(i) for i in range(len(nodes))}


def test_animated_glb_joints_follow_the_track(body, tmp_path):
    from openhmr.video.evaluate import body_joints
    from openhmr.video.gltf import write_animated_glb

    tracks = _animated_case(body)
    write_animated_glb(tmp_path / "a.glb", body, tracks, fps=30.0)
    gltf, accessor = _read_glb(tmp_path / "a.glb")
    assert len(gltf["skins"]) == len(tracks) and len(gltf["animations"]) == 1
    k = 7  # a keyframe: each node's transform from the file, composed down the hierarchy
    world = _world_transforms(gltf, accessor, k)
    for skin, track in zip(gltf["skins"], tracks, strict=True):
        got = np.stack([world[j][:3, 3] for j in skin["joints"]])
        want = body_joints(body, track.pose[k : k + 1], track.betas[k : k + 1])[0]
        want = (want + track.transl[k]) * np.array([1.0, -1.0, -1.0])  # y-up
        np.testing.assert_allclose(got, want, atol=1e-4)
        weights = accessor(gltf["meshes"][0]["primitives"][0]["attributes"]["WEIGHTS_0"])
        np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-6)


def test_animated_glb_skin_puts_the_mesh_on_the_body(body, tmp_path):
    """Skinning as a viewer does it (bind-pose vertices, inverse bind matrices, the joints at
    a keyframe) lands on the body model's mesh, and the bind pose stands where the track
    starts (viewers frame and cull skinned meshes by it)."""
    from openhmr.video.gltf import write_animated_glb

    tracks = _animated_case(body)
    write_animated_glb(tmp_path / "a.glb", body, tracks, fps=30.0)
    gltf, accessor = _read_glb(tmp_path / "a.glb")
    k = 7
    world = _world_transforms(gltf, accessor, k)
    y_up = np.array([1.0, -1.0, -1.0])
    for index, (skin, track) in enumerate(zip(gltf["skins"], tracks, strict=True)):
        attributes = gltf["meshes"][index]["primitives"][0]["attributes"]
        bind = accessor(attributes["POSITION"]).astype(np.float64)
        slots = accessor(attributes["JOINTS_0"]).astype(np.int64)
        weights = accessor(attributes["WEIGHTS_0"]).astype(np.float64)
        inverse_bind = accessor(skin["inverseBindMatrices"]).reshape(-1, 4, 4)
        skinning = np.stack([world[j] for j in skin["joints"]]) @ inverse_bind.transpose(0, 2, 1)
        moved = np.einsum("jab,vb->vja", skinning[:, :3], np.c_[bind, np.ones(len(bind))])
        got = (weights[..., None] * np.take_along_axis(moved, slots[..., None], 1)).sum(1)
        with torch.no_grad():
            out = body(
                torch.as_tensor(track.pose[k : k + 1], dtype=torch.float32),
                torch.as_tensor(track.betas[k : k + 1], dtype=torch.float32),
                torch.as_tensor(track.transl[k : k + 1], dtype=torch.float32),
            )
        want = out.vertices[0].double().numpy() * y_up
        error = np.linalg.norm(got - want, axis=1)  # blend of 4 weights, no correctives: mm
        assert error.mean() < 1e-3 and error.max() < 0.02, (error.mean(), error.max())
        with torch.no_grad():
            rest = body(betas=torch.as_tensor(track.betas[:1], dtype=torch.float32))
        standing = (rest.vertices[0].double().numpy() + track.transl[0]) * y_up
        np.testing.assert_allclose(bind, standing, atol=1e-4)


@pytest.mark.skipif(
    not (VALIDATOR / "node_modules" / "gltf-validator").is_dir() or shutil.which("node") is None,
    reason="needs node and `npm install` in tools/gltf",
)
def test_animated_glb_passes_khronos_validator(body, tmp_path):
    import json
    import subprocess

    from openhmr.video.gltf import write_animated_glb

    write_animated_glb(tmp_path / "a.glb", body, _animated_case(body), fps=30.0)
    result = subprocess.run(
        ["node", str(VALIDATOR / "validate.mjs"), str(tmp_path / "a.glb")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]
    assert report["info"]["animationCount"] == 1 and report["info"]["hasSkins"]


def test_tiled_detection_finds_more_and_smaller_people():
    import cv2

    from openhmr.inference.detect import MoveNetPersonDetector
    from openhmr.inference.predictor import ASSETS
    from openhmr.video.tiles import TiledDetector

    photo = cv2.cvtColor(cv2.imread(str(ASSETS / "astronaut.jpg")), cv2.COLOR_BGR2RGB)
    small = cv2.resize(photo, (150, 150))
    image = np.full((300, 1600, 3), 90, np.uint8)
    starts = 10 + 158 * np.arange(10)
    for x in starts:
        image[75:225, x : x + 150] = small
    base = MoveNetPersonDetector()
    assert len(base(image)) <= 6
    found = TiledDetector(base)(image)
    assert len(found) == 10
    left = np.sort(found.boxes[:, 0])
    assert (left >= starts - 5).all() and (left <= starts + 75).all()  # one in each copy
    assert found.keypoints.shape == (10, 17, 3)


def test_video_detector_reads_the_frame_larger_and_invents_nobody():
    """On an empty procedural frame where MultiPose's best guess scores 0.077, the image
    demo's detector falls back to that guess (a box 258 x 83 px); demo --track's finds nobody."""
    from openhmr.inference.detect import MoveNetPersonDetector
    from openhmr.synth.scene import procedural_background
    from openhmr.video.tiles import VIDEO_THRESHOLD, TiledDetector, video_detector

    image_detector = MoveNetPersonDetector()
    detector = video_detector(image_detector, VIDEO_THRESHOLD)
    assert isinstance(detector, TiledDetector)
    assert (detector.base.size, detector.base.square) == (384, False)
    assert detector.base.fallback_score is None and detector.base.threshold == VIDEO_THRESHOLD
    assert video_detector(image_detector).base.threshold == image_detector.threshold
    other = object()
    assert video_detector(other).base is other  # only wrapped
    empty = procedural_background(np.random.default_rng(9), 640)[:360]
    guessed = image_detector(empty)
    assert len(guessed) == 1 and guessed.scores[0] < image_detector.threshold
    assert len(detector(empty)) == 0


def test_tile_merge_drops_overlaps_and_cut_people():
    from openhmr.video.tiles import merge, tile_grid

    boxes = np.array([[0, 0, 10, 20], [1, 0, 10, 20], [0, 0, 10, 8], [30, 0, 10, 20]], float)
    kept = merge(boxes, np.array([0.9, 0.8, 0.95, 0.5]), None, iou=0.5, inside=0.7)
    # the cut box (score .95) stays first; the full box overlaps it only by 0.4 so stays;
    # the shifted duplicate (IoU 0.82 with the full box) goes
    np.testing.assert_array_equal(kept.boxes, boxes[[2, 0, 3]])
    tiles = tile_grid(1600, 300, 0.25)
    assert tiles[0][0] == 0 and tiles[-1][2] == 1600
    assert all(x1 - x0 == 300 for x0, _, x1, _ in tiles)


def test_tile_merge_keeps_two_people_one_pass_found_one_behind_the_other():
    from openhmr.video.tiles import merge

    # the full frame's pass: a person (.9) and one mostly behind them (.6; 80% of the box
    # inside the first, IoU 0.33); a tile's pass: the first cut at the tile's edge (.5)
    boxes = np.array([[0, 0, 50, 100], [30, 10, 25, 80], [0, 0, 20, 100]], float)
    scores = np.array([0.9, 0.6, 0.5])
    kept = merge(boxes, scores, None, iou=0.5, inside=0.7, passes=np.array([0, 0, 1]))
    np.testing.assert_array_equal(kept.boxes, boxes[:2])
    # without passes every box counts as its own: the person behind goes with the cut view
    kept = merge(boxes, scores, None, iou=0.5, inside=0.7)
    np.testing.assert_array_equal(kept.boxes, boxes[:1])


def test_demo_track_on_a_folder_of_frames(tmp_path):
    import cv2

    from openhmr.cli import main

    clip = tmp_path / "clip.mp4"
    moving_photo_clip(clip, frames=6)
    folder = tmp_path / "frames"
    folder.mkdir()
    capture = cv2.VideoCapture(str(clip))
    for i in range(6):
        ok, frame = capture.read()
        assert ok
        cv2.imwrite(str(folder / f"{i:03d}.png"), frame)
    capture.release()
    out = tmp_path / "out"
    main(["demo", str(folder), "--track", "--fps", "12.5", "--out", str(out)])
    data = np.load(out / "frames_track0.npz")
    assert float(data["fps"]) == 12.5 and data["observed"].sum() == 6
    assert (out / "frames_tracks.glb").is_file() and (out / "frames_tracked.mp4").is_file()


def _naive_histograms(image, keypoints):
    """The appearance histograms by a per-pixel loop: a pixel counts for a region when its
    centre lies inside the region's convex polygon (on the inner side of every edge)."""
    from openhmr.video.appearance import BINS, REGIONS

    def inside_convex(polygon, points):
        edges = np.roll(polygon, -1, axis=0) - polygon
        rel = points[:, None] - polygon[None]
        cross = edges[None, :, 0] * rel[..., 1] - edges[None, :, 1] * rel[..., 0]
        return (cross >= 0).all(1) | (cross <= 0).all(1)

    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    centres = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    out = []
    for points in keypoints:
        hists = []
        for corners in REGIONS:
            inside = inside_convex(points[list(corners), :2], centres)
            pixels = image.reshape(-1, 3)[inside].astype(int)
            hist = np.zeros(BINS**3)
            for r, g, b in pixels:
                hist[(r * BINS // 256 * BINS + g * BINS // 256) * BINS + b * BINS // 256] += 1
            hists.append(hist / max(len(pixels), 1))
        out.append(np.concatenate(hists))
    return np.array(out)


def test_appearance_histograms_match_a_per_pixel_loop():
    from openhmr.video.appearance import appearance, similarity

    rng = np.random.default_rng(3)
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, :40] = (200, 30, 30)  # a red left half, a blue right half, noise on top
    image[:, 40:] = (30, 30, 200)
    image = np.clip(image + rng.integers(-40, 40, image.shape), 0, 255).astype(np.uint8)
    keypoints = np.zeros((2, 19, 2))  # shoulders 8, 9; hips 2, 3; knees 1, 4
    keypoints[0, [8, 9, 3, 2, 4, 1]] = [(8, 10), (28, 10), (28, 30), (8, 30), (28, 50), (8, 50)]
    slanted = [(45.3, 8.2), (66.7, 12.1), (62.4, 31.6), (41.8, 28.9), (70.2, 52.5), (44.1, 49.3)]
    keypoints[1, [8, 9, 3, 2, 4, 1]] = slanted
    got = appearance(image, keypoints)
    want = _naive_histograms(image, keypoints)
    np.testing.assert_allclose(got[0], want[0], atol=1e-12)  # axis-aligned: the same pixels
    # slanted edges: a few edge pixels fall either way between rasteriser and centre test
    assert np.abs(got[1] - want[1]).sum() < 0.06
    np.testing.assert_allclose(got.reshape(2, 2, -1).sum(-1), 1.0)
    alike = similarity(got[:, None], got[None])
    assert alike[0, 0] == pytest.approx(1.0) and alike[1, 1] == pytest.approx(1.0)
    assert alike[0, 1] < 0.2  # red against blue
    # a person outside the frame has no histogram, and no similarity
    away = appearance(image, keypoints + 500)
    assert (away == 0).all() and np.isnan(similarity(away[0], got[0]))


def test_tracker_tells_two_walkers_apart_by_their_colours():
    """Two people walk towards each other at the same depth and shape, and where they meet
    only the front one is found, with a box between the two tracks' predictions: appearance
    gives that detection to the right track, and each keeps their id after."""
    looks = {0: np.zeros(128), 1: np.zeros(128)}
    looks[0][[5, 69]], looks[1][[60, 124]] = 1.0, 1.0  # red and blue, torso and thighs

    def person(x):
        box = np.array([x, 100.0, x + 40, 220])
        kp = np.stack(np.meshgrid(np.linspace(x, x + 40, 19), [0.0]), -1)[0] + [0, 160]
        return box, kp

    def run(with_looks):
        tracker = Tracker()
        truth, ids = [], []
        for f in range(40):
            xs = {0: 100.0 + 6 * f, 1: 400.0 - 6 * f}
            meet = 20 <= f < 28  # they overlap: only person 1 (in front) is found
            shown = [1] if meet else [0, 1]
            boxes, kps = zip(*(person(xs[p]) for p in shown), strict=True)
            frame_ids = tracker.update(
                np.array(boxes), np.array(kps), np.zeros((len(shown), 10)),
                np.full(len(shown), 5.0),
                np.array([looks[p] for p in shown]) if with_looks else None,
            )  # fmt: skip
            truth.append(np.array(shown))
            ids.append(frame_ids)
        return tracking_metrics(truth, ids, np.ones((2, 40), dtype=bool))

    assert run(with_looks=True).switches == 0
    assert run(with_looks=False).switches > 0  # the box and body alone are fooled


def test_tracker_takes_frames_with_nobody_and_appearance():
    """A frame with no detection (and an empty appearance array, as the pipeline gives it)
    keeps the track alive; the person found again keeps their id."""
    tracker = Tracker()
    box, kp = np.array([[0.0, 0, 10, 30]]), np.zeros((1, 19, 2))
    look = np.zeros((1, 128))
    look[0, [5, 69]] = 1.0
    first = tracker.update(box, kp, np.zeros((1, 10)), np.ones(1), look)
    empty = tracker.update(np.zeros((0, 4)), np.zeros((0, 19, 2)), np.zeros((0, 10)),
                           np.zeros(0), np.zeros((0, 128)))  # fmt: skip
    again = tracker.update(box, kp, np.zeros((1, 10)), np.ones(1), look)
    assert len(empty) == 0 and again[0] == first[0]


def test_filled_frames_count_only_where_the_fill_lies_on_the_person():
    """A track missed in frames 4 and 5 is filled by the smoother; those frames show the
    person when the filled box lies on their true box (a steady walk), not when the person
    was elsewhere then."""
    from types import SimpleNamespace

    from openhmr.video.evaluate import filled_frames
    from openhmr.video.synthetic import FrameEstimates

    frames = np.arange(10.0)
    boxes = np.stack([10 * frames, 0 * frames, 10 * frames + 50, 0 * frames + 100], 1)
    estimates = []
    for f in range(10):
        n = 0 if f in (4, 5) else 1
        zeros = [np.zeros((n, *shape)) for shape in ((19, 3), (24, 3), (10,))]
        estimates.append(
            FrameEstimates(boxes[f : f + n], *zeros, np.ones((n, 3)), np.zeros(n, dtype=np.int64))
        )
    ids = [np.zeros(len(e.boxes), dtype=np.int64) for e in estimates]
    raw = collect_tracks(estimates, ids)
    pairs = [(t, smooth_track(t)) for t in raw]
    steady = SimpleNamespace(boxes=boxes[None])
    shown = filled_frames(steady, pairs, (1, 10))
    np.testing.assert_array_equal(np.flatnonzero(shown[0]), [4, 5])
    away = boxes.copy()
    away[4:6] += [300, 0, 300, 0]  # the person was elsewhere in the gap
    assert not filled_frames(SimpleNamespace(boxes=away[None]), pairs, (1, 10)).any()
