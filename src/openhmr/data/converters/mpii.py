"""MPII Human Pose (`mpii_human_pose_v1_u12_1.mat` + `images/`).

The `RELEASE` struct: `annolist(i).image.name`, `annolist(i).annorect(r).annopoints.point(p)`
with `id` (0–15), `x`, `y` (1-based pixels), `is_visible`; `img_train(i)` marks the training
images (test annotations are not public). MPII joint ids: 0 r ankle, 1 r knee, 2 r hip, 3 l hip,
4 l knee, 5 l ankle, 6 pelvis, 7 thorax, 8 upper neck, 9 head top, 10 r wrist, 11 r elbow,
12 r shoulder, 13 l shoulder, 14 l elbow, 15 l wrist; upper neck is LSP's neck. A point with
an empty `is_visible` is counted visible (it is annotated).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from openhmr.data.converters.common import index_from_keypoints, require, to_cocoplus, write_split
from openhmr.errors import OpenHMRError

MPII_TO_COCOPLUS = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9, -1, -1, -1, -1, -1]


def _items(value: Any) -> list[Any]:
    """A MATLAB struct array / cell / single struct as a list (empty → [])."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _visible(flag: Any) -> float:
    values = np.ravel(np.asarray(flag, dtype=object))
    if values.size == 0:
        return 1.0
    try:
        return float(int(values[0]))
    except (TypeError, ValueError):
        return 1.0


def _person(rect: Any) -> np.ndarray | None:
    """One annorect → (16, 3) MPII keypoints (continuous pixels), or None without points."""
    points = getattr(getattr(rect, "annopoints", None), "point", None)
    if points is None:
        return None
    keypoints = np.zeros((16, 3))
    for point in _items(points):
        joint = int(point.id)
        keypoints[joint] = [
            float(point.x) - 0.5,
            float(point.y) - 0.5,
            _visible(getattr(point, "is_visible", np.zeros(0))),
        ]
    return keypoints


def convert_mpii(
    annotation_file: str | os.PathLike,
    out: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
) -> list[Path]:
    """MPII's training images → `mpii_train.npz` (the paper's filter applied)."""
    path = require(Path(annotation_file), "MPII annotation file")
    try:
        release = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)["RELEASE"]
        annolist, is_train = _items(release.annolist), np.ravel(release.img_train)
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise OpenHMRError(f"{path}: not MPII's RELEASE annotation struct ({err})") from None
    names, people = [], []
    for entry, train in zip(annolist, is_train, strict=True):
        if not train:
            continue
        for rect in _items(getattr(entry, "annorect", np.zeros(0))):
            keypoints = _person(rect)
            if keypoints is not None:
                names.append(str(entry.image.name))
                people.append(keypoints)
    if not people:
        raise OpenHMRError(f"{path}: no annotated training person found")
    root = Path(image_root) if image_root else path.parent / "images"
    index = index_from_keypoints(
        names,
        to_cocoplus(np.array(people), MPII_TO_COCOPLUS),
        root,
        {"dataset": "mpii", "split": "train", "version": "1.0"},
    )
    return [write_split(out, "mpii", "train", index)]
