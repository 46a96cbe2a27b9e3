"""Body model files → `BodyModelData` (plain numpy arrays), whatever the file kind.

Supported: the bundled open model (`"open"`: keypoints at joint centres; `"open-annotated"`:
the same model with its hip and shoulder keypoints where annotators put them), official SMPL
`.pkl` (read without chumpy), the smplx package's `.npz`, and the project's own `.npz` (see
docs/body_model_format.md).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from openhmr.body.keypoints import (
    COCOPLUS_NAMES,
    SMPL_JOINT_NAMES,
    annotator_matrix,
    approximate_cocoplus_regressor,
    default_keypoint_names,
)
from openhmr.body.smpl_pickle import load_restricted_pickle, load_smpl_pickle
from openhmr.errors import OpenHMRError
from openhmr.files import atomic_path, read_npz

ASSETS = Path(__file__).resolve().parent / "assets"
BUNDLED_MODELS = {
    "open": ASSETS / "open_body_model.npz",
    "open-annotated": ASSETS / "open_body_model.npz",
}
# bundled names whose hip and shoulder keypoints move to where COCO's and LSP's annotators put
# them (`openhmr.body.keypoints.annotator_matrix`); the file itself keeps joint centres
ANNOTATED_MODELS = ("open-annotated",)
FORMAT_NAME = "openhmr-body-model"
REQUIRED_KEYS = ("v_template", "shapedirs", "J_regressor", "weights", "kintree_table", "f")


@dataclass(frozen=True)
class BodyModelData:
    """One body model file's content as numpy arrays (float64 geometry, int64 indices).

    v_template (V, 3); shapedirs (V, 3, NB); posedirs (V, 3, 9 (J − 1)) or None;
    joint_regressor (J, V); weights (V, J); parents (J,); faces (F, 3);
    keypoint_regressor (K, V); keypoint_names K names; joint_names J names; meta: provenance.
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray | None
    joint_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray
    keypoint_regressor: np.ndarray
    keypoint_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def num_betas(self) -> int:
        return self.shapedirs.shape[2]


def _dense(value: Any) -> np.ndarray:
    if scipy.sparse.issparse(value):
        return np.asarray(value.toarray())
    return np.asarray(value)


def _parents_from_kintree(kintree: np.ndarray, path: Path) -> np.ndarray:
    kintree = np.asarray(kintree)
    if kintree.ndim != 2 or kintree.shape[0] != 2:
        raise OpenHMRError(f"{path}: kintree_table must have shape (2, J), found {kintree.shape}")
    parents = kintree[0].astype(np.int64)
    parents[(parents < 0) | (parents >= kintree.shape[1])] = -1  # SMPL stores 2**32 - 1 for root
    if parents[0] != -1 or np.any(parents[1:] >= np.arange(1, parents.size)):
        raise OpenHMRError(
            f"{path}: kintree_table must list the root first and every parent "
            f"before its children, found parents {parents.tolist()}"
        )
    return parents


def _check_shapes(arrays: dict[str, np.ndarray], path: Path) -> None:
    v = arrays["v_template"]
    if v.ndim != 2 or v.shape[1] != 3:
        raise OpenHMRError(f"{path}: v_template must be (V, 3), found {v.shape}")
    num_v, num_j = v.shape[0], arrays["J_regressor"].shape[0]
    expected = {
        "shapedirs": (num_v, 3, None),
        "J_regressor": (num_j, num_v),
        "weights": (num_v, num_j),
        "f": (None, 3),
    }
    if arrays.get("posedirs") is not None:
        expected["posedirs"] = (num_v, 3, 9 * (num_j - 1))
    for key, shape in expected.items():
        found = arrays[key].shape
        if len(found) != len(shape) or any(
            e is not None and e != f for e, f in zip(shape, found, strict=False)
        ):
            want = "(" + ", ".join("*" if e is None else str(e) for e in shape) + ")"
            raise OpenHMRError(f"{path}: {key} must have shape {want}, found {found}")
    faces = arrays["f"]
    if faces.size and (faces.min() < 0 or faces.max() >= num_v):
        raise OpenHMRError(
            f"{path}: face indices must lie in [0, {num_v}), found [{faces.min()}, {faces.max()}]"
        )


def _read_raw(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise OpenHMRError(f"body model file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        return load_smpl_pickle(path)
    if suffix == ".npz":
        return read_npz(path)
    raise OpenHMRError(
        f"{path}: unsupported body model file; expected .pkl (official SMPL) or "
        f".npz (smplx convention or openhmr's own)"
    )


def load_keypoint_regressor(path: str | Path, num_vertices: int) -> np.ndarray:
    """A user-supplied keypoint regressor: `.npy`, `.npz` (one array, or a key named
    `keypoint_regressor`, `cocoplus_regressor` or `J_regressor`) or `.pkl` (a bare array or such
    a dict). Returns (K, num_vertices) float64."""
    path = Path(path)
    if not path.exists():
        raise OpenHMRError(f"keypoint regressor file not found: {path}")
    names = ("keypoint_regressor", "cocoplus_regressor", "J_regressor")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        value: Any = np.load(path, allow_pickle=False)
    elif suffix in (".npz", ".pkl"):
        content = _read_raw(path) if suffix == ".npz" else load_restricted_pickle(path)
        if isinstance(content, dict):
            keys = [k for k in names if k in content]
            if not keys and len(content) == 1:
                keys = list(content)
            if not keys:
                raise OpenHMRError(
                    f"{path}: expected one array or a key among {names}, found "
                    f"keys {sorted(content)}"
                )
            value = content[keys[0]]
        else:
            value = content
    else:
        raise OpenHMRError(f"{path}: keypoint regressor must be .npy, .npz or .pkl")
    regressor = _dense(value).astype(np.float64)
    if regressor.ndim != 2 or regressor.shape[1] != num_vertices:
        raise OpenHMRError(
            f"{path}: keypoint regressor must be (K, {num_vertices}), found {regressor.shape}"
        )
    return regressor


def _string_tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in np.asarray(value).reshape(-1).tolist())


def _keypoints(
    raw: dict[str, Any],
    joint_regressor: np.ndarray,
    path: Path,
    keypoint_regressor: str | Path | None,
    keypoint_names: tuple[str, ...] | None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    num_v = joint_regressor.shape[1]
    if keypoint_regressor is not None:
        regressor = load_keypoint_regressor(keypoint_regressor, num_v)
        names = keypoint_names or default_keypoint_names(regressor.shape[0])
    elif "keypoint_regressor" in raw:
        regressor = _dense(raw["keypoint_regressor"]).astype(np.float64)
        names = (
            _string_tuple(raw["keypoint_names"])
            if "keypoint_names" in raw
            else default_keypoint_names(regressor.shape[0])
        )
    elif "cocoplus_regressor" in raw:  # HMR's neutral_smpl_with_cocoplus_reg.pkl
        regressor, names = _dense(raw["cocoplus_regressor"]).astype(np.float64), COCOPLUS_NAMES
    elif num_v == 6890:
        warnings.warn(
            f"{path}: no keypoint regressor given; using an approximation of HMR's "
            f"cocoplus keypoints from SMPL joints and vertex ids (pass "
            f"keypoint_regressor= for the exact one)",
            stacklevel=3,
        )
        regressor, names = approximate_cocoplus_regressor(joint_regressor), COCOPLUS_NAMES
    else:
        raise OpenHMRError(
            f"{path}: no keypoint regressor in the file and none given; for a "
            f"{num_v}-vertex model pass keypoint_regressor="
        )
    if regressor.ndim != 2 or regressor.shape[1] != num_v:
        raise OpenHMRError(
            f"{path}: keypoint regressor must be (K, {num_v}), found {regressor.shape}"
        )
    if len(names) != regressor.shape[0]:
        raise OpenHMRError(
            f"{path}: {len(names)} keypoint names for {regressor.shape[0]} regressor rows"
        )
    return regressor, tuple(names)


def resolve_body_model_path(path_or_name: str | os.PathLike) -> Path:
    """`"open"` → the bundled file; anything else is a path."""
    if isinstance(path_or_name, str) and path_or_name in BUNDLED_MODELS:
        path = BUNDLED_MODELS[path_or_name]
        if not path.exists():
            raise OpenHMRError(
                f"the bundled body model {path_or_name!r} is missing at {path}; "
                f"rebuild it with tools/build_open_body_model.py"
            )
        return path
    return Path(path_or_name)


def read_body_model(
    path_or_name: str | os.PathLike,
    keypoint_regressor: str | Path | None = None,
    keypoint_names: tuple[str, ...] | None = None,
) -> BodyModelData:
    """Read any supported body model file (see module docstring) into `BodyModelData`."""
    path = resolve_body_model_path(path_or_name)
    raw = _read_raw(path)
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise OpenHMRError(f"{path}: not an SMPL-format body model; missing keys {missing}")
    arrays = {k: _dense(raw[k]) for k in REQUIRED_KEYS}
    arrays["posedirs"] = _dense(raw["posedirs"]) if raw.get("posedirs") is not None else None
    _check_shapes(arrays, path)
    meta: dict[str, Any] = {}
    if "openhmr_meta" in raw:
        meta = json.loads(str(np.asarray(raw["openhmr_meta"])))
        if meta.get("format") != FORMAT_NAME:
            raise OpenHMRError(
                f"{path}: openhmr_meta.format must be {FORMAT_NAME!r}, found {meta.get('format')!r}"
            )
    posedirs = arrays["posedirs"]
    if posedirs is not None and not np.any(posedirs):
        posedirs = None  # all-zero correctives: skip the step, same result
    joint_regressor = arrays["J_regressor"].astype(np.float64)
    regressor, names = _keypoints(raw, joint_regressor, path, keypoint_regressor, keypoint_names)
    num_j = joint_regressor.shape[0]
    joint_names = (
        _string_tuple(raw["joint_names"])
        if "joint_names" in raw
        else (SMPL_JOINT_NAMES if num_j == 24 else tuple(f"joint_{i}" for i in range(num_j)))
    )
    meta.setdefault("name", path.stem)
    meta["path"] = str(path)
    if isinstance(path_or_name, str) and path_or_name in ANNOTATED_MODELS:
        regressor = annotator_matrix(names) @ regressor
        meta["name"], meta["keypoints"] = path_or_name, "annotators"
    return BodyModelData(
        v_template=arrays["v_template"].astype(np.float64),
        shapedirs=arrays["shapedirs"].astype(np.float64),
        posedirs=None if posedirs is None else posedirs.astype(np.float64),
        joint_regressor=joint_regressor,
        weights=arrays["weights"].astype(np.float64),
        parents=_parents_from_kintree(arrays["kintree_table"], path),
        faces=arrays["f"].astype(np.int64),
        keypoint_regressor=regressor,
        keypoint_names=names,
        joint_names=joint_names,
        meta=meta,
    )


def write_body_model(path: str | Path, data: BodyModelData) -> None:
    """Write `data` as the project's own `.npz` (float32 geometry), atomically."""
    path = Path(path)
    meta = {
        **data.meta,
        "format": FORMAT_NAME,
        "format_version": 1,
        "parents": data.parents.tolist(),
        "joint_names": list(data.joint_names),
        "keypoint_names": list(data.keypoint_names),
        "pose_correctives": "none" if data.posedirs is None else "learned",
    }
    meta.pop("path", None)
    arrays = {
        "v_template": data.v_template.astype(np.float32),
        "shapedirs": data.shapedirs.astype(np.float32),
        "J_regressor": data.joint_regressor.astype(np.float32),
        "weights": data.weights.astype(np.float32),
        "kintree_table": np.stack([data.parents, np.arange(data.parents.size)]).astype(np.int64),
        "f": data.faces.astype(np.int32),
        "keypoint_regressor": data.keypoint_regressor.astype(np.float32),
        "keypoint_names": np.array(data.keypoint_names),
        "joint_names": np.array(data.joint_names),
        "openhmr_meta": np.array(json.dumps(meta)),
    }
    if data.posedirs is not None:
        arrays["posedirs"] = data.posedirs.astype(np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
