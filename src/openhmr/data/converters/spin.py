"""SPIN's preprocessed `.npz` files (e.g. `h36m_train.npz`, `h36m_valid_protocol1.npz`,
`mpi_inf_3dhp_valid.npz`, `3dpw_test.npz`), which is how most people hold Human3.6M.

SPIN's keys: `imgname`, `center`, `scale` (the same box convention as ours), `part` (N, 24, 3)
2D joints in SPIN's 24-joint order, optional `S` (N, 24, 4) 3D joints (metres, camera frame),
`pose` (N, 72), `shape` (N, 10), `has_smpl` (N,). SPIN's pixel coordinates are 0-based with
integer pixel centres (+0.5 to ours). Its 24 joints are the 14 LSP joints, then pelvis, thorax,
spine, jaw, head (H36M/MPII), nose, left eye, right eye, left ear, right ear.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from openhmr.data.converters.common import require, to_cocoplus, write_split
from openhmr.data.records import RecordIndex
from openhmr.errors import OpenHMRError
from openhmr.files import read_npz

SPIN24_TO_COCOPLUS = [*range(14), 19, 20, 21, 22, 23]


def joints3d_from_spin(S: np.ndarray) -> np.ndarray:
    """SPIN S (N, 24, 4) → LSP-14 joints (N, 14, 4), pelvis-centred (mean of the hips)."""
    joints = S[:, :14].astype(np.float64).copy()
    pelvis = joints[:, [2, 3], :3].mean(axis=1, keepdims=True)
    joints[..., :3] -= pelvis
    return joints


def convert_spin(
    npz_file: str | os.PathLike, out: str | os.PathLike, image_root: str, dataset: str | None = None
) -> list[Path]:
    """One SPIN `.npz` → `<dataset>_<split>.npz` (dataset/split from the file name, e.g.
    h36m_valid_protocol1 → h36m / valid_protocol1). Rows pass through unfiltered."""
    path = require(Path(npz_file), "SPIN .npz file")
    data = read_npz(path, "SPIN .npz file")
    missing = [k for k in ("imgname", "center", "scale", "part") if k not in data]
    if missing:
        raise OpenHMRError(f"{path}: not a SPIN dataset file; missing keys {missing}")
    if data["part"].shape[1:] != (24, 3):
        raise OpenHMRError(f"{path}: 'part' must be (N, 24, 3), found {data['part'].shape}")
    name = dataset or path.stem.split("_")[0]
    split = path.stem[len(name) + 1 :] or "all"
    keypoints = to_cocoplus(data["part"].astype(np.float64), SPIN24_TO_COCOPLUS)
    keypoints[..., :2] += 0.5
    keypoints[..., 2] = (keypoints[..., 2] > 0).astype(np.float64)
    has_smpl = data.get("has_smpl")
    if has_smpl is None and "pose" in data:
        has_smpl = np.ones(len(keypoints), bool)
    index = RecordIndex(
        imgname=data["imgname"].astype(str),
        center=data["center"].astype(np.float64) + 0.5,
        scale=data["scale"].astype(np.float64),
        keypoints2d=keypoints,
        image_root=Path(image_root),
        joints3d=joints3d_from_spin(data["S"]) if "S" in data else None,
        pose=data.get("pose"),
        betas=data.get("shape"),
        has_smpl=None if has_smpl is None else has_smpl.astype(bool),
        meta={"dataset": name, "split": split, "source": f"SPIN preprocessed {path.name}"},
    )
    return [write_split(out, name, split, index)]
