"""Model files: official-SMPL-layout pickles with genuine chumpy objects (read without chumpy),
the smplx `.npz` convention, the project's own file, keypoint regressors, and clear errors."""

from __future__ import annotations

import os
import pickle
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse
import torch

from openhmr.body import load_body_model, read_body_model, write_body_model
from openhmr.body.keypoints import COCOPLUS_NAMES
from openhmr.errors import OpenHMRError
from tests.conftest import SMPL_PARENTS, random_smpl_arrays

chumpy = pytest.importorskip("chumpy")


def official_layout(arrays: dict) -> dict:
    """The official files' types: chumpy arrays, a scipy CSC J_regressor, numpy elsewhere."""
    return {
        "v_template": chumpy.array(arrays["v_template"]),
        "shapedirs": chumpy.array(arrays["shapedirs"]),
        "posedirs": arrays["posedirs"],
        "J_regressor": scipy.sparse.csc_matrix(arrays["J_regressor"]),
        "J_regressor_prior": scipy.sparse.csc_matrix(arrays["J_regressor"]),
        "weights": chumpy.array(arrays["weights"]),
        "weights_prior": chumpy.array(arrays["weights"]),
        "kintree_table": arrays["kintree_table"],
        "f": arrays["f"],
        "J": arrays["J_regressor"] @ arrays["v_template"],
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "vert_sym_idxs": np.arange(arrays["v_template"].shape[0]),
    }


def write_pickle(path, content, old_module_names: bool = False) -> None:
    stream = pickle.dumps(content, protocol=2)
    if old_module_names:  # as the Python 2 era files name them
        stream = stream.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        stream = stream.replace(b"scipy.sparse._csc", b"scipy.sparse.csc")
    path.write_bytes(stream)


@pytest.mark.parametrize("old_names", [False, True])
def test_chumpy_pickle_loads_without_chumpy(tmp_path, smpl_arrays, old_names):
    path = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    write_pickle(path, official_layout(smpl_arrays), old_module_names=old_names)
    hidden = {
        name: sys.modules.pop(name)
        for name in list(sys.modules)
        if name == "chumpy" or name.startswith("chumpy.")
    }
    sys.modules["chumpy"] = None  # any import of chumpy now fails
    try:
        with pytest.raises(OpenHMRError, match="no keypoint regressor"):
            read_body_model(path)  # 60 vertices: no approximation to fall back on
        regressor = tmp_path / "reg.npy"
        np.save(regressor, np.eye(19, 60))
        data = read_body_model(path, keypoint_regressor=regressor)
    finally:
        del sys.modules["chumpy"]
        sys.modules.update(hidden)
    np.testing.assert_array_equal(data.v_template, smpl_arrays["v_template"])
    np.testing.assert_array_equal(data.shapedirs, smpl_arrays["shapedirs"])
    np.testing.assert_array_equal(data.joint_regressor, smpl_arrays["J_regressor"])
    np.testing.assert_array_equal(data.weights, smpl_arrays["weights"])
    np.testing.assert_array_equal(data.parents, SMPL_PARENTS)
    assert data.keypoint_names == COCOPLUS_NAMES


def test_pickle_with_any_other_class_is_refused(tmp_path, smpl_arrays):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    content = official_layout(smpl_arrays)
    content["payload"] = Exploit()
    path = tmp_path / "evil.pkl"
    write_pickle(path, content)
    with pytest.raises(OpenHMRError, match="refusing to load class"):
        read_body_model(path)
    assert not marker.exists()


def test_smpl_pickle_300_betas_and_hmr_cocoplus_key(tmp_path):
    arrays = random_smpl_arrays(num_betas=300)
    content = official_layout(arrays)
    cocoplus = scipy.sparse.csc_matrix(np.eye(19, 60))
    content["cocoplus_regressor"] = cocoplus
    path = tmp_path / "neutral_smpl_with_cocoplus_reg.pkl"
    write_pickle(path, content)
    model = load_body_model(path, dtype=torch.float64)
    assert model.num_betas == 300 and model.keypoint_names == COCOPLUS_NAMES
    out = model(betas=torch.randn(2, 300, dtype=torch.float64))
    torch.testing.assert_close(out.keypoints, out.vertices[:, :19])


def test_official_size_model_without_regressor_uses_documented_approximation(tmp_path):
    arrays = random_smpl_arrays(num_vertices=6890, num_faces=10)
    path = tmp_path / "smpl.npz"
    np.savez(path, **arrays)
    with pytest.warns(UserWarning, match="approximation"):
        model = load_body_model(path, dtype=torch.float64)
    out = model(pose=0.3 * torch.randn(1, 24, 3, dtype=torch.float64))
    names = model.keypoint_names
    v = out.vertices[0]
    regressor = torch.from_numpy(arrays["J_regressor"])
    torch.testing.assert_close(out.keypoints[0, names.index("left_knee")], regressor[4] @ v)
    torch.testing.assert_close(out.keypoints[0, names.index("head_top")], v[411])
    torch.testing.assert_close(out.keypoints[0, names.index("nose")], v[332])
    torch.testing.assert_close(out.keypoints[0, names.index("right_ear")], v[4071])


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pkl"])
def test_user_keypoint_regressor_files(tmp_path, smplx_npz, suffix):
    regressor = np.random.default_rng(0).random((17, 60))
    path = tmp_path / f"J_regressor_h36m{suffix}"
    if suffix == ".npy":
        np.save(path, regressor)
    elif suffix == ".npz":
        np.savez(path, J_regressor=regressor)
    else:
        write_pickle(path, scipy.sparse.csc_matrix(regressor))
    model = load_body_model(smplx_npz, keypoint_regressor=path, dtype=torch.float64)
    assert len(model.keypoint_names) == 17 and model.keypoint_names[0] == "pelvis"
    out = model(pose=0.2 * torch.randn(1, 24, 3, dtype=torch.float64))
    torch.testing.assert_close(out.keypoints[0], torch.from_numpy(regressor) @ out.vertices[0])


def test_own_format_round_trip(tmp_path, smplx_npz):
    data = read_body_model(smplx_npz)
    path = tmp_path / "own.npz"
    write_body_model(path, data)
    back = read_body_model(path)
    assert (
        back.meta["format"] == "openhmr-body-model" and back.meta["pose_correctives"] == "learned"
    )
    np.testing.assert_allclose(back.v_template, data.v_template, rtol=1e-6)
    np.testing.assert_allclose(back.posedirs, data.posedirs, rtol=1e-6)
    np.testing.assert_array_equal(back.parents, SMPL_PARENTS)
    assert back.keypoint_names == data.keypoint_names
    assert not list(tmp_path.glob("*.tmp"))


def test_all_zero_pose_correctives_are_skipped(tmp_path, smpl_arrays):
    arrays = dict(smpl_arrays, posedirs=np.zeros_like(smpl_arrays["posedirs"]))
    path = tmp_path / "zero.npz"
    np.savez(path, **arrays, keypoint_regressor=np.eye(19, 60))
    assert read_body_model(path).posedirs is None


def test_bad_files_give_one_clear_error(tmp_path, smpl_arrays):
    with pytest.raises(OpenHMRError, match="not found"):
        read_body_model(tmp_path / "missing.pkl")
    (tmp_path / "model.obj").write_text("v 0 0 0\n")
    with pytest.raises(OpenHMRError, match="unsupported body model file"):
        read_body_model(tmp_path / "model.obj")
    (tmp_path / "corrupt.pkl").write_bytes(b"\x80\x02garbage")
    with pytest.raises(OpenHMRError, match="not a readable pickle"):
        read_body_model(tmp_path / "corrupt.pkl")
    partial = {k: v for k, v in smpl_arrays.items() if k != "weights"}
    np.savez(tmp_path / "partial.npz", **partial)
    with pytest.raises(OpenHMRError, match=r"missing keys \['weights'\]"):
        read_body_model(tmp_path / "partial.npz")
    wrong = dict(smpl_arrays, weights=smpl_arrays["weights"][:, :20])
    np.savez(tmp_path / "wrong.npz", **wrong)
    with pytest.raises(OpenHMRError, match=r"weights must have shape \(60, 24\)"):
        read_body_model(tmp_path / "wrong.npz")
    np.savez(tmp_path / "objects.npz", **smpl_arrays, junk=np.array([{"a": 1}], dtype=object))
    with pytest.raises(OpenHMRError, match="Python objects"):
        read_body_model(tmp_path / "objects.npz")


def test_warning_free_when_regressor_present(smplx_npz):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_body_model(smplx_npz)
