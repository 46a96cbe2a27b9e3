"""What every converter shares: the paper's person filter and box, keypoint-set mapping, and
writing split indexes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openhmr.data.crop import box_from_keypoints
from openhmr.data.records import RecordIndex, save_index
from openhmr.errors import OpenHMRError

MIN_VISIBLE = 6
"""The paper's filter: persons with fewer visible keypoints are dropped."""
MIN_EXTENT_PX = 40.0
"""Persons whose visible keypoints span fewer pixels (longest side) are dropped as too small."""


def to_cocoplus(keypoints: np.ndarray, mapping: Sequence[int]) -> np.ndarray:
    """(N, K, 3) keypoints in a dataset's order → (N, 19, 3) cocoplus; mapping[i] is the source
    index of cocoplus keypoint i, or −1 where the dataset has none (visibility 0)."""
    out = np.zeros((len(keypoints), 19, 3), dtype=np.float64)
    for target, source in enumerate(mapping):
        if source >= 0:
            out[:, target] = keypoints[:, source]
    return out


def keep_person(
    keypoints: np.ndarray, min_visible: int = MIN_VISIBLE, min_extent: float = MIN_EXTENT_PX
) -> np.ndarray:
    """(N, 19, 3) → (N,) bool: at least `min_visible` visible keypoints spanning at least
    `min_extent` pixels."""
    visible = keypoints[..., 2] > 0
    xy = keypoints[..., :2]
    low = np.where(visible[..., None], xy, np.inf).min(axis=1)  # N x 2
    high = np.where(visible[..., None], xy, -np.inf).max(axis=1)
    extent = np.where(visible.any(axis=1), (high - low).max(axis=1), 0.0)
    return (visible.sum(axis=1) >= min_visible) & (extent >= min_extent)


def index_from_keypoints(
    imgname: Sequence[str],
    keypoints: np.ndarray,
    image_root: Path,
    meta: dict[str, Any],
    filter_persons: bool = True,
    **optional: np.ndarray,
) -> RecordIndex:
    """Build an index whose boxes follow the released code (~150 px person in a 224 crop),
    dropping persons by `keep_person` when filter_persons. optional: joints3d, pose, betas,
    has_smpl rows aligned with keypoints."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    keep = keep_person(keypoints) if filter_persons else keypoints[..., 2].sum(axis=1) >= 2
    rows = np.flatnonzero(keep)
    boxes = [box_from_keypoints(keypoints[r]) for r in rows]
    centers = np.array([c for c, _ in boxes]).reshape(-1, 2)
    scales = np.array([s for _, s in boxes])
    extra = {k: np.asarray(v)[rows] for k, v in optional.items() if v is not None}
    meta = {**meta, "persons_in": len(keypoints), "persons_kept": len(rows)}
    return RecordIndex(
        np.asarray(imgname)[rows].astype(str),
        centers,
        scales,
        keypoints[rows],
        image_root,
        meta=meta,
        **extra,
    )


def write_split(out_dir: str | os.PathLike, dataset: str, split: str, index: RecordIndex) -> Path:
    """Write `<out_dir>/<dataset>_<split>.npz` atomically; returns its path."""
    if len(index) == 0:
        raise OpenHMRError(f"{dataset} {split}: no person passed the filter; nothing written")
    path = Path(out_dir) / f"{dataset}_{split}.npz"
    save_index(path, index)
    return path


def write_splits(
    out_dir: str | os.PathLike, dataset: str, indexes: dict[str, RecordIndex]
) -> list[Path]:
    """Write several splits, each as `write_split`, only once every one of them has a person:
    a refused split leaves no other split's file behind."""
    for split, index in indexes.items():
        if len(index) == 0:
            raise OpenHMRError(f"{dataset} {split}: no person passed the filter; nothing written")
    return [write_split(out_dir, dataset, split, index) for split, index in indexes.items()]


def require(path: Path, what: str) -> Path:
    """`path` if it exists, else one clear error naming it."""
    if not path.exists():
        raise OpenHMRError(f"{what} not found: {path}")
    return path
