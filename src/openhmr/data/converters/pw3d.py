"""3DPW (`sequenceFiles/<split>/*.pkl` + `imageFiles/<sequence>/image_%05d.jpg`).

Each sequence pickle (Python 2, read with the project's restricted unpickler) holds per actor:
`poses` (F, 72) SMPL in world axes, `betas` (10 or more), `poses2d` (F, 3, 18) OpenPose-18
x/y/confidence, `jointPositions` (F, 72) SMPL joints in world metres, `campose_valid` (F,);
and per sequence `cam_poses` (F, 4, 4) world→camera, `img_frame_ids` (F,). We keep frames whose
camera pose is valid, rotate the root into camera axes, and take 2D keypoints with confidence
> 0.3 as visible. joints3d are the LSP-14 from SMPL's skeleton joints (head top ≈ SMPL head),
an approximation; evaluation regresses joints from the ground-truth mesh instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from openhmr.body.smpl_pickle import load_smpl_pickle
from openhmr.data.converters.common import require, to_cocoplus, write_split
from openhmr.data.crop import box_from_keypoints
from openhmr.data.records import RecordIndex
from openhmr.errors import OpenHMRError

OPENPOSE18_TO_COCOPLUS = [10, 9, 8, 11, 12, 13, 4, 3, 2, 5, 6, 7, 1, -1, 0, 15, 14, 17, 16]
SMPL24_TO_LSP14 = [8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15]
CONFIDENCE = 0.3


def _sequence_rows(path: Path, seq: dict) -> dict[str, list]:
    rows: dict[str, list] = {k: [] for k in ("imgname", "kp", "j3d", "pose", "betas")}
    cam = np.asarray(seq["cam_poses"], dtype=np.float64)  # F x 4 x 4
    frames = np.asarray(seq["img_frame_ids"]).astype(int)
    name = str(seq["sequence"])
    for actor in range(len(seq["poses"])):
        valid = np.asarray(seq["campose_valid"][actor]).astype(bool)
        poses = np.asarray(seq["poses"][actor], dtype=np.float64)[valid]
        rotation = cam[valid, :3, :3]
        root = Rotation.from_matrix(rotation) * Rotation.from_rotvec(poses[:, :3])
        poses[:, :3] = root.as_rotvec()
        kp = np.asarray(seq["poses2d"][actor], dtype=np.float64)[valid].transpose(0, 2, 1)
        kp[..., 2] = (kp[..., 2] > CONFIDENCE).astype(np.float64)
        joints = np.asarray(seq["jointPositions"][actor], dtype=np.float64)[valid]
        joints = joints.reshape(-1, 24, 3)[:, SMPL24_TO_LSP14]
        joints = np.einsum("fij,fkj->fki", rotation, joints)  # translation cancels below
        joints -= joints[:, [2, 3]].mean(axis=1, keepdims=True)
        betas = np.asarray(seq["betas"][actor], dtype=np.float64).ravel()[:10]
        rows["imgname"] += [f"{name}/image_{f:05d}.jpg" for f in frames[valid]]
        rows["kp"].append(to_cocoplus(kp, OPENPOSE18_TO_COCOPLUS))
        rows["j3d"].append(np.concatenate([joints, np.ones((*joints.shape[:2], 1))], axis=2))
        rows["pose"].append(poses)
        rows["betas"].append(np.repeat(betas[None], len(poses), axis=0))
    if not rows["imgname"]:
        raise OpenHMRError(f"{path}: no frame with a valid camera pose")
    return rows


def convert_3dpw(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    split: str = "test",
) -> list[Path]:
    """3DPW `<raw>/sequenceFiles/<split>/*.pkl` → `3dpw_<split>.npz` (every valid frame and
    actor with at least 6 confident keypoints)."""
    raw = Path(raw)
    folder = require(raw / "sequenceFiles" / split, f"3DPW {split} sequence folder")
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise OpenHMRError(f"{folder}: no .pkl sequence files")
    merged: dict[str, list] = {k: [] for k in ("imgname", "kp", "j3d", "pose", "betas")}
    for file in files:
        seq = load_smpl_pickle(file)
        missing = [
            k
            for k in (
                "sequence",
                "poses",
                "poses2d",
                "jointPositions",
                "betas",
                "cam_poses",
                "campose_valid",
                "img_frame_ids",
            )
            if k not in seq
        ]
        if missing:
            raise OpenHMRError(f"{file}: not a 3DPW sequence file; missing keys {missing}")
        for key, values in _sequence_rows(file, seq).items():
            merged[key] += values
    keypoints = np.concatenate(merged["kp"])
    keep = (keypoints[..., 2] > 0).sum(axis=1) >= 6
    boxes = [box_from_keypoints(k) for k in keypoints[keep]]
    index = RecordIndex(
        imgname=np.array(merged["imgname"])[keep],
        center=np.array([c for c, _ in boxes]),
        scale=np.array([s for _, s in boxes]),
        keypoints2d=keypoints[keep],
        image_root=raw / "imageFiles",
        joints3d=np.concatenate(merged["j3d"])[keep],
        pose=np.concatenate(merged["pose"])[keep],
        betas=np.concatenate(merged["betas"])[keep],
        has_smpl=np.ones(int(keep.sum()), bool),
        meta={"dataset": "3dpw", "split": split, "sequences": len(files)},
    )
    return [write_split(out, "3dpw", split, index)]
