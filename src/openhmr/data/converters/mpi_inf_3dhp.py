"""MPI-INF-3DHP.

Training set: `S<s>/Seq<q>/annot.mat` (MATLAB v5) with cells `annot2` / `annot3` (one per
camera: (F, 28·2) pixels, (F, 28·3) mm, camera frame) over the 28-joint skeleton; images are
frames extracted from `imageSequence/video_<c>.avi` to
`S<s>/Seq<q>/imageFrames/video_<c>/frame_%06d.jpg` (1-based, as SPIN's preprocessing does; e.g.
`ffmpeg -i video_0.avi -qscale:v 1 imageFrames/video_0/frame_%06d.jpg`).

Test set: `TS<n>/annot_data.mat` (MATLAB v7.3/HDF5, read with h5py; a v5 file also works) with
`annot2` (F, 1, 17, 2), `annot3` (F, 1, 17, 3) mm and `valid_frame` (F,), images
`TS<n>/imageSequence/img_%06d.jpg`; 17 joints: head top, neck, r shoulder, r elbow, r wrist,
l shoulder, l elbow, l wrist, r hip, r knee, r ankle, l hip, l knee, l ankle, pelvis, spine,
head. The 2,929 valid frames are the paper's evaluation set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from openhmr.data.converters.common import index_from_keypoints, require, to_cocoplus, write_split
from openhmr.errors import OpenHMRError

TRAIN28_TO_LSP14 = [25, 24, 23, 18, 19, 20, 16, 15, 14, 9, 10, 11, 5, 7]
TEST17_TO_LSP14 = [10, 9, 8, 11, 12, 13, 4, 3, 2, 5, 6, 7, 1, 0]
TRAIN_CAMERAS = (0, 1, 2, 4, 5, 6, 7, 8)  # the chest-height cameras, as SPIN uses


def _joints3d(points_mm: np.ndarray) -> np.ndarray:
    """(N, 14, 3) mm → (N, 14, 4) metres, pelvis-centred, valid."""
    joints = points_mm / 1000.0
    joints = joints - joints[:, [2, 3]].mean(axis=1, keepdims=True)
    return np.concatenate([joints, np.ones((*joints.shape[:2], 1))], axis=2)


def _keypoints(points_px: np.ndarray, lsp: list[int]) -> np.ndarray:
    """(N, J, 2) integer-centred pixels → (N, 19, 3) cocoplus, all 14 body joints visible."""
    kp = np.concatenate([points_px[:, lsp] + 0.5, np.ones((len(points_px), 14, 1))], axis=2)
    return to_cocoplus(kp, list(range(14)) + [-1] * 5)


def _load_test_mat(path: Path) -> dict[str, np.ndarray]:
    try:
        data = scipy.io.loadmat(path)
        # MATLAB's (2, 17, 1, F) in v5 equals h5py's view (F, 1, 17, 2) reversed
        return {k: np.asarray(data[k]).T for k in ("annot2", "annot3", "valid_frame")}
    except NotImplementedError:  # v7.3 = HDF5
        try:
            import h5py
        except ImportError:
            raise OpenHMRError(f"{path} is MATLAB v7.3 (HDF5): pip install h5py") from None
        with h5py.File(path, "r") as mat:
            return {k: np.asarray(mat[k]) for k in ("annot2", "annot3", "valid_frame")}
    except (OSError, ValueError, KeyError) as err:
        raise OpenHMRError(f"{path}: not a 3DHP annot_data.mat ({err})") from None


def convert_3dhp_test(raw: str | os.PathLike, out: str | os.PathLike) -> list[Path]:
    """`<raw>/TS1..TS6/annot_data.mat` → `3dhp_test.npz` (valid frames only, unfiltered)."""
    raw = Path(raw)
    names, points2d, points3d = [], [], []
    for n in range(1, 7):
        path = require(raw / f"TS{n}" / "annot_data.mat", "3DHP test annotation")
        data = _load_test_mat(path)
        valid = np.flatnonzero(np.ravel(data["valid_frame"]) > 0)
        points2d.append(data["annot2"].reshape(-1, 17, 2)[valid])
        points3d.append(data["annot3"].reshape(-1, 17, 3)[valid])
        names += [f"TS{n}/imageSequence/img_{f + 1:06d}.jpg" for f in valid]
    points2d, points3d = np.concatenate(points2d), np.concatenate(points3d)
    index = index_from_keypoints(
        names,
        _keypoints(points2d, TEST17_TO_LSP14),
        raw,
        {"dataset": "3dhp", "split": "test"},
        filter_persons=False,
        joints3d=_joints3d(points3d[:, TEST17_TO_LSP14]),
    )
    return [write_split(out, "3dhp", "test", index)]


def convert_3dhp_train(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    every: int = 10,
    cameras: tuple[int, ...] = TRAIN_CAMERAS,
) -> list[Path]:
    """`<raw>/S1..S8/Seq1..2/annot.mat` → `3dhp_train.npz`, every `every`-th frame of the
    given cameras, frames that exist on disk only (extract them first; see module doc)."""
    raw = Path(raw)
    names, points2d, points3d = [], [], []
    for s in range(1, 9):
        for q in (1, 2):
            path = raw / f"S{s}" / f"Seq{q}" / "annot.mat"
            if not path.exists():
                continue
            try:
                mat = scipy.io.loadmat(path)
                annot2, annot3 = np.ravel(mat["annot2"]), np.ravel(mat["annot3"])
            except (OSError, ValueError, KeyError) as err:
                raise OpenHMRError(f"{path}: not a 3DHP annot.mat ({err})") from None
            for cam in cameras:
                frames = np.arange(0, len(annot2[cam]), every)
                folder = f"S{s}/Seq{q}/imageFrames/video_{cam}"
                for f in frames:
                    name = f"{folder}/frame_{f + 1:06d}.jpg"
                    if (raw / name).is_file():
                        names.append(name)
                        points2d.append(annot2[cam][f].reshape(28, 2))
                        points3d.append(annot3[cam][f].reshape(28, 3))
    if not names:
        raise OpenHMRError(
            f"{raw}: no 3DHP training frame found (annot.mat files and "
            f"extracted imageFrames/video_<c>/frame_%06d.jpg)"
        )
    points2d, points3d = np.array(points2d), np.array(points3d)
    index = index_from_keypoints(
        names,
        _keypoints(points2d, TRAIN28_TO_LSP14),
        raw,
        {"dataset": "3dhp", "split": "train", "every": every},
        joints3d=_joints3d(points3d[:, TRAIN28_TO_LSP14]),
    )
    return [write_split(out, "3dhp", "train", index)]
