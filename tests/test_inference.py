"""The image -> people pipeline against independent references: a rendered body with a known
camera (silhouette IoU), direct projection, OpenCV 4's HOG descriptor, hand-written OpenPose
files of the real schema, and mesh files parsed back."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from openhmr.body import load_body_model
from openhmr.body.poses import named_pose
from openhmr.errors import OpenHMRError
from openhmr.geometry.camera import crop_to_full_perspective, perspective_project
from openhmr.inference import MoveNetPersonDetector, Predictor, write_glb, write_ply
from openhmr.inference.detect import box_iou
from openhmr.inference.openpose import boxes_from_openpose, read_openpose
from openhmr.inference.visualize import render_people
from openhmr.model import HMR
from openhmr.render import Mesh, composite, render

DATA = Path(__file__).parent / "data"
SILHOUETTE_IOU = 0.98  # the true focal: the pipeline reproduces the rendering
# the default, nearly orthographic, focal against a 1500 px truth: the body's ±0.3 m depth at
# 7 m changes its projected size by a few %, a few pixels along a ~300 px outline
SILHOUETTE_IOU_DEFAULT_FOCAL = 0.8


@pytest.fixture(scope="module")
def body():
    return load_body_model("open")


def forced_model(body, theta: np.ndarray) -> HMR:
    """A small HMR whose every prediction is Θ: zero IEF updates, Θ_0 = theta."""
    model = HMR(width=8, hidden=32, body_model=body).eval()
    with torch.no_grad():
        model.regressor.fc3.weight.zero_()
        model.regressor.fc3.bias.zero_()
        model.regressor.mean_theta.copy_(torch.as_tensor(theta, dtype=torch.float32)[None])
    return model


@pytest.fixture(scope="module")
def scene(body):
    """A body rendered with a known pinhole camera over a noisy gradient: image, truth alpha,
    truth 2D keypoints, pose, betas, focal."""
    pose = named_pose("walk").reshape(1, 24, 3).clone()
    pose[0, 0] = torch.tensor([math.pi, 0.0, 0.0]) + torch.tensor([0.0, 0.4, 0.0])
    betas = torch.tensor([[0.8, -0.5, 0.3, 0, 0, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        out = body(pose=pose, betas=betas)
    focal, height, width = 1500.0, 480, 640
    translation = np.array([0.6, 0.15, 7.0])
    vertices = out.vertices[0].double().numpy() + translation
    keypoints = out.keypoints[0].double().numpy() + translation
    rng = np.random.default_rng(0)
    background = np.linspace(60, 190, width)[None, :, None] + rng.normal(0, 5, (height, width, 3))
    background = np.clip(background, 0, 255).astype(np.uint8)
    rendering = render(
        [Mesh(vertices, body.faces.numpy(), (0.8, 0.35, 0.3))], (height, width), focal
    )
    image = composite(background, rendering)
    truth2d = focal * keypoints[:, :2] / keypoints[:, 2:] + np.array([width, height]) / 2
    return {
        "image": image,
        "alpha": rendering.alpha > 0.5,
        "vertices": vertices,
        "keypoints2d": truth2d,
        "pose": pose[0].numpy(),
        "betas": betas[0].numpy(),
        "focal": focal,
        "translation": translation,
    }


def silhouette_box(alpha: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(alpha)
    return np.array(
        [cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()]
    )


def fitted_theta(scene, box: np.ndarray) -> np.ndarray:
    """Θ with the crop's weak-perspective camera fitted by least squares to the true pinhole
    projections of the body's points on the plane Z = 0 of the body model's frame (the depth
    the camera conversion assumes; for a plane facing the camera weak perspective is exact):
    n = s · X_xy + s · t in crop coordinates n = 2 (x − c) / b, with the predictor's documented
    crop (centre c of the box, side b = 224 / 150 · max(w, h))."""
    centre, side = box[:2] + box[2:] / 2, box[2:].max() * 224 / 150
    body_points = scene["vertices"] - scene["translation"]  # the body model's own frame
    camera_points = body_points * [1, 1, 0] + scene["translation"]
    pixels = scene["focal"] * camera_points[:, :2] / camera_points[:, 2:] + np.array([320, 240])
    normalised = 2 * (pixels - centre) / side
    count = len(body_points)
    design = np.zeros((2 * count, 3))
    design[:count, 0], design[count:, 0] = body_points[:, 0], body_points[:, 1]
    design[:count, 1], design[count:, 2] = 1, 1
    solution, *_ = np.linalg.lstsq(design, normalised.T.reshape(-1), rcond=None)
    s, shift = solution[0], solution[1:]
    return np.concatenate([[s, *(shift / s)], scene["pose"].reshape(-1), scene["betas"]])


@pytest.fixture(scope="module")
def scene_theta(scene):
    box = silhouette_box(scene["alpha"])
    return box, fitted_theta(scene, box)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("focal", ["exact", "default"])
def test_overlay_silhouette_matches_rendered_truth(body, scene, scene_theta, focal):
    box, theta = scene_theta
    predictor = Predictor(
        forced_model(body, theta), focal_length=scene["focal"] if focal == "exact" else None
    )
    people = predictor(scene["image"], boxes=box[None])
    assert len(people) == 1
    person = people[0]
    predicted = render_people((480, 640), people, predictor.faces).alpha > 0.5
    threshold = SILHOUETTE_IOU if focal == "exact" else SILHOUETTE_IOU_DEFAULT_FOCAL
    assert iou(predicted, scene["alpha"]) > threshold
    # the 2D keypoints land on the true projections
    error = np.linalg.norm(person.keypoints2d[:, :2] - scene["keypoints2d"], axis=1)
    assert error.max() < (0.5 if focal == "exact" else 12.0)  # 3% of the 378 px body
    assert person.keypoints2d.shape == (19, 3) and person.vertices.shape == (body.num_vertices, 3)
    np.testing.assert_allclose(person.bbox, box)
    if focal == "exact":  # the translation itself is recovered
        np.testing.assert_allclose(person.translation, scene["translation"], atol=1e-3)
        np.testing.assert_allclose(person.vertices, scene["vertices"], atol=2e-3)


def test_perspective_conversion_matches_direct_projection():
    """Points at the body's depth (z = 0 in the body frame) project to the same pixels through
    the crop camera (mapped from crop to image) and through the full-image pinhole camera."""
    generator = torch.Generator().manual_seed(0)
    batch = 5
    camera = torch.rand(batch, 3, generator=generator, dtype=torch.float64) * 0.4
    camera[:, 0] += 0.7
    centre = torch.rand(batch, 2, generator=generator, dtype=torch.float64) * 500 + 50
    side = torch.rand(batch, generator=generator, dtype=torch.float64) * 300 + 100
    size = torch.tensor([[640.0, 480.0]], dtype=torch.float64).expand(batch, 2)
    points = torch.rand(batch, 30, 3, generator=generator, dtype=torch.float64) - 0.5
    points[..., 2] = 0
    focal = 1234.0
    translation = crop_to_full_perspective(camera, centre, side, size, focal)
    direct = perspective_project(points + translation[:, None], focal, size / 2)
    crop = camera[:, None, :1] * (points[..., :2] + camera[:, None, 1:])  # [-1, 1]
    expected = centre[:, None] + crop * side[:, None, None] / 2
    torch.testing.assert_close(direct, expected, rtol=0, atol=1e-9)


def test_predictor_outputs_and_bad_inputs(body, scene, scene_theta, tmp_path):
    box, theta = scene_theta
    predictor = Predictor(forced_model(body, theta), batch_size=2)
    two = predictor(scene["image"], boxes=np.stack([box, box + np.array([5, 0, 0, 0])]))
    assert len(two) == 2 and two[0].pose.shape == (24, 3) and two[0].betas.shape == (10,)
    with pytest.raises(OpenHMRError, match="outside"):
        predictor(scene["image"], boxes=np.array([[700.0, 10, 50, 50]]))
    with pytest.raises(OpenHMRError, match="w, h > 0"):
        predictor(scene["image"], boxes=np.array([[10.0, 10, 0, 50]]))
    with pytest.raises(OpenHMRError, match="RGB uint8"):
        predictor(scene["image"][..., 0], boxes=box[None])
    not_image = tmp_path / "x.jpg"
    not_image.write_text("hello")
    with pytest.raises(OpenHMRError, match="not an image"):
        predictor(not_image)
    assert predictor(np.full((200, 200, 3), 128, np.uint8)) == []  # nothing detected
    import openhmr.inference.predictor as predictor_module

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(predictor_module, "DEFAULT_MODEL", tmp_path / "gone.safetensors")
        with pytest.raises(OpenHMRError, match="default model is missing"):
            Predictor.from_checkpoint("default")


def test_predictor_refuses_a_focal_length_or_device_it_cannot_use(body, scene_theta, monkeypatch):
    model = forced_model(body, scene_theta[1])
    for focal in (0.0, -100.0, float("nan")):  # -100 would put the body behind the camera
        with pytest.raises(OpenHMRError, match=r"focal length \(pixels\): expected a number > 0"):
            Predictor(model, focal_length=focal)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(OpenHMRError, match="device cuda: this machine has no usable CUDA GPU"):
        Predictor(model, device="cuda")
    with pytest.raises(OpenHMRError, match="device: expected cpu, cuda, cuda:N or mps"):
        Predictor(model, device="gpu0")
    assert Predictor(model, focal_length=800.0).focal_length == 800.0


def test_detector_finds_rendered_pedestrian(body):
    """A walker facing the camera, rendered: the default detector's box matches its silhouette and
    its keypoints lie on it."""
    pose = named_pose("walk").reshape(1, 24, 3).clone()
    pose[0, 0] = torch.tensor([math.pi, 0.0, 0.0])
    with torch.no_grad():
        vertices = body(pose=pose).vertices[0].double().numpy() + np.array([0.5, 0.0, 6.0])
    height, width = 480, 640
    background = np.linspace(90, 170, width)[None, :, None] + np.random.default_rng(0).normal(
        0, 6, (height, width, 3)
    )
    background = np.clip(background, 0, 255).astype(np.uint8)
    rendering = render(
        [Mesh(vertices, body.faces.numpy(), (0.8, 0.3, 0.25))], (height, width), 800.0
    )
    image = composite(background, rendering)
    detections = MoveNetPersonDetector()(image)
    truth = silhouette_box(rendering.alpha > 0.5).astype(float)
    assert len(detections) == 1
    assert box_iou(truth, detections.boxes)[0] > 0.6
    x, y, w, h = truth
    confident = detections.keypoints[0, detections.keypoints[0, :, 2] > 0.3, :2]
    assert len(confident) >= 12
    assert ((confident >= [x - 5, y - 5]) & (confident <= [x + w + 5, y + h + 5])).all()
    assert len(MoveNetPersonDetector()(background)) == 0


def _openpose_person(points: dict[int, tuple[float, float, float]], count: int) -> list[float]:
    flat = [0.0] * (3 * count)
    for index, (x, y, c) in points.items():
        flat[3 * index : 3 * index + 3] = [x, y, c]
    return flat


def test_openpose_json_both_schemas(tmp_path):
    # OpenPose ≥ 1.2 (BODY_25): two people, undetected joints are 0, 0, 0
    strong = {1: (100.0, 50.0, 0.9), 8: (110.0, 200.0, 0.8), 11: (130.0, 290.0, 0.7)}
    weak = {1: (400.0, 100.0, 0.3), 14: (420.0, 180.0, 0.3), 0: (900.0, 900.0, 0.1)}
    current = {
        "version": 1.3,
        "people": [
            {
                "person_id": [-1],
                "pose_keypoints_2d": _openpose_person(weak, 25),
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": [],
                "hand_right_keypoints_2d": [],
                "pose_keypoints_3d": [],
            },
            {"person_id": [-1], "pose_keypoints_2d": _openpose_person(strong, 25)},
        ],
    }
    path = tmp_path / "frame_000000000000_keypoints.json"
    path.write_text(json.dumps(current))
    assert [k.shape for k in read_openpose(path)] == [(25, 3), (25, 3)]
    boxes = boxes_from_openpose(path)
    # strong person first: keypoint box [100, 130] x [50, 290], diagonal √(30² + 240²)
    diagonal = math.hypot(30, 240)
    np.testing.assert_allclose(
        boxes[0], [115 - diagonal / 2, 170 - diagonal / 2, diagonal, diagonal]
    )
    diagonal = math.hypot(20, 80)  # the 0.1-confidence point is ignored
    np.testing.assert_allclose(
        boxes[1], [410 - diagonal / 2, 140 - diagonal / 2, diagonal, diagonal]
    )
    # OpenPose 1.0 (COCO 18, "pose_keypoints")
    old = {"version": 1.0, "people": [{"pose_keypoints": _openpose_person(strong, 18)}]}
    path.write_text(json.dumps(old))
    assert read_openpose(path)[0].shape == (18, 3)
    assert boxes_from_openpose(path).shape == (1, 4)
    path.write_text(json.dumps({"version": 1.3, "people": []}))
    with pytest.raises(OpenHMRError, match="no person"):
        boxes_from_openpose(path)
    path.write_text("{not json")
    with pytest.raises(OpenHMRError, match="OpenPose JSON"):
        read_openpose(path)


def test_ply_and_glb_parse_back(tmp_path):
    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(7, 3))
    faces = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    write_ply(tmp_path / "m.ply", vertices, faces)
    data = (tmp_path / "m.ply").read_bytes()
    header, body = data.split(b"end_header\n", 1)
    assert b"format binary_little_endian 1.0" in header and b"element vertex 7" in header
    np.testing.assert_allclose(np.frombuffer(body[: 7 * 12], "<f4").reshape(7, 3), vertices, 1e-6)
    records = np.frombuffer(body[7 * 12 :], dtype=[("n", "u1"), ("ids", "<u4", (3,))])
    assert (records["n"] == 3).all()
    np.testing.assert_array_equal(records["ids"], faces)

    write_glb(tmp_path / "m.glb", vertices, faces)
    data = (tmp_path / "m.glb").read_bytes()
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert (magic, version, length) == (b"glTF", 2, len(data))
    json_length, json_type = struct.unpack("<I4s", data[12:20])
    gltf = json.loads(data[20 : 20 + json_length])
    assert json_type == b"JSON" and json_length % 4 == 0
    bin_length, bin_type = struct.unpack("<I4s", data[20 + json_length : 28 + json_length])
    binary = data[28 + json_length :]
    assert bin_type == b"BIN\x00" and bin_length == len(binary)
    position, index = gltf["accessors"]
    view = gltf["bufferViews"][position["bufferView"]]
    got = np.frombuffer(binary, "<f4", 21, view["byteOffset"]).reshape(7, 3)
    np.testing.assert_allclose(got, vertices, 1e-6)
    np.testing.assert_allclose(position["min"], vertices.min(0), 1e-6)
    view = gltf["bufferViews"][index["bufferView"]]
    ids = np.frombuffer(binary, "<u4", 9, view["byteOffset"]).reshape(3, 3)
    np.testing.assert_array_equal(ids, faces)
    trimesh = pytest.importorskip("trimesh")
    for name in ("m.ply", "m.glb"):
        mesh = trimesh.load(tmp_path / name, force="mesh", process=False)
        np.testing.assert_allclose(mesh.vertices, vertices, atol=1e-6)
        np.testing.assert_array_equal(mesh.faces, faces)
