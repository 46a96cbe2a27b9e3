"""LSP (Leeds Sports Pose, 2,000 images: 1,000 train / 1,000 test) and LSP-extended (10,000).

Layouts of `joints.mat`:
- LSP: `joints` 3 × 14 × 2000, rows x, y, and a flag that is 1 where the joint is *occluded*
  (0 = visible), so visibility = 1 − flag;
- LSP-extended: `joints` 14 × 3 × N, columns x, y, visibility (1 = visible).
Coordinates are 1-based MATLAB pixels (shifted by −0.5 to the project's continuous pixels);
images `images/im%04d.jpg` (LSP) / `images/im%05d.jpg` (LSP-extended). The 14 joints are in
LSP's order = the first 14 cocoplus keypoints; the face points are absent (visibility 0).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from openhmr.checks import check_number
from openhmr.data.converters.common import index_from_keypoints, require, write_splits
from openhmr.errors import OpenHMRError
from openhmr.files import describe_file

LSP_TO_COCOPLUS = list(range(14))


def read_joints_mat(path: Path) -> np.ndarray:
    """joints.mat in either layout → (N, 14, 3) x, y (continuous pixels), visibility."""
    try:
        contents = scipy.io.loadmat(path)
    except Exception:  # scipy raises several kinds (MatReadError, ValueError, ...)
        raise OpenHMRError(
            f"{path}: expected a MATLAB .mat file with a 'joints' matrix, found "
            f"{describe_file(path)} that scipy cannot read"
        ) from None
    if not isinstance(contents.get("joints"), np.ndarray):
        names = sorted(k for k in contents if not k.startswith("__"))
        raise OpenHMRError(f"{path}: expected a 'joints' matrix, found the variables {names}")
    joints = contents["joints"]
    if joints.ndim == 3 and joints.shape[:2] == (3, 14):  # LSP: occlusion flag
        keypoints = joints.transpose(2, 1, 0).astype(np.float64)
        keypoints[..., 2] = 1.0 - keypoints[..., 2]
    elif joints.ndim == 3 and joints.shape[:2] == (14, 3):  # LSP-extended: visibility
        keypoints = joints.transpose(2, 0, 1).astype(np.float64)
    else:
        raise OpenHMRError(
            f"{path}: 'joints' must be 3 × 14 × N (LSP) or 14 × 3 × N "
            f"(LSP-extended), found {joints.shape}"
        )
    keypoints[..., :2] -= 0.5
    keypoints[..., 2] = (keypoints[..., 2] > 0.5).astype(np.float64)
    return keypoints


def _padded(keypoints14: np.ndarray) -> np.ndarray:
    out = np.zeros((len(keypoints14), 19, 3))
    out[:, :14] = keypoints14
    return out


def convert_lsp(raw: str | os.PathLike, out: str | os.PathLike) -> list[Path]:
    """LSP → `lsp_train.npz` (images 1–1000) and `lsp_test.npz` (1001–2000). The test split
    is written unfiltered (it is an evaluation set)."""
    raw = Path(raw)
    keypoints = read_joints_mat(require(raw / "joints.mat", "LSP joints.mat"))
    names = [f"im{i + 1:04d}.jpg" for i in range(len(keypoints))]
    images = require(raw / "images", "LSP images folder")
    indexes = {
        split: index_from_keypoints(
            names[rows],
            _padded(keypoints[rows]),
            images,
            {"dataset": "lsp", "split": split, "version": "1.0"},
            filter_persons=filtered,
        )
        for split, rows, filtered in (
            ("train", slice(0, 1000), True),
            ("test", slice(1000, 2000), False),
        )
    }
    return write_splits(out, "lsp", indexes)


def convert_lspet(
    raw: str | os.PathLike, out: str | os.PathLike, holdout_fraction: float = 0.0
) -> list[Path]:
    """LSP-extended → `lspet_train.npz` (and `lspet_val.npz`: the last `holdout_fraction` of
    the images present, unfiltered, when > 0). Only images present on disk are used."""
    check_number("holdout fraction", holdout_fraction, minimum=0.0, below=1.0)
    raw = Path(raw)
    keypoints = read_joints_mat(require(raw / "joints.mat", "LSP-extended joints.mat"))
    images = require(raw / "images", "LSP-extended images folder")
    names = np.array([f"im{i + 1:05d}.jpg" for i in range(len(keypoints))])
    present = np.array([(images / n).is_file() for n in names])
    if not present.any():
        raise OpenHMRError(f"{images}: none of the {len(names)} annotated images is present")
    names, keypoints = names[present], keypoints[present]
    num_val = round(len(names) * holdout_fraction)
    meta = {"dataset": "lspet", "version": "1.0", "images_present": int(present.sum())}
    splits = [("train", slice(0, len(names) - num_val), True)]
    if num_val:
        splits.append(("val", slice(len(names) - num_val, len(names)), False))
    indexes = {
        split: index_from_keypoints(
            names[rows],
            _padded(keypoints[rows]),
            images,
            {**meta, "split": split},
            filter_persons=filtered,
        )
        for split, rows, filtered in splits
    }
    return write_splits(out, "lspet", indexes)
