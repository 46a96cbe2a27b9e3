"""2D keypoint layouts the fitting stage accepts, and where each keypoint sits on the body.

Layouts (K keypoints, x, y, confidence):

| layout | K | source |
| --- | ---: | --- |
| ``coco17`` | 17 | COCO order (MoveNet, ViTPose, ...): `COCO17_NAMES` |
| ``openpose25`` | 25 | OpenPose BODY_25 (read into ``coco17``: neck, mid-hip, feet dropped) |
| ``openpose18`` | 18 | OpenPose COCO-18 (read into ``coco17``: neck dropped) |
| ``cocoplus19`` | 19 | the body model's own keypoints (PAPER.md order) |
| ``lsp14`` | 14 | LSP's 14 joints = the first 14 cocoplus keypoints |

Left and right are the person's own in every layout.  Each layout's keypoints are affine
combinations of the body's 19 cocoplus keypoints (`body_matrix`): a row of weights summing to
one, so the mapping commutes with rotation, translation and (weak-perspective) projection.
COCO's face points and limb joints are the cocoplus points of the same name; COCO's hips sit
elsewhere than the body's joint centres, and so do its shoulders: both get a combination
calibrated on data (`COCO17_OFFSETS`, docs/fitting.md).
"""

from __future__ import annotations

import numpy as np

from openhmr.body.keypoints import ANNOTATOR_OFFSETS, COCO17_NAMES, COCOPLUS_NAMES, annotator_matrix
from openhmr.errors import OpenHMRError

# rows of each OpenPose layout that hold the COCO-17 keypoints, in COCO-17 order
OPENPOSE25_TO_COCO17 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
OPENPOSE18_TO_COCO17 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)

# COCO hips and shoulders as affine combinations of cocoplus points: where annotators put them
# (`openhmr.body.keypoints.ANNOTATOR_OFFSETS`, calibrated by tools/calibrate_coco.py)
COCO17_OFFSETS: dict[str, dict[str, float]] = ANNOTATOR_OFFSETS

LAYOUTS = ("coco17", "openpose25", "openpose18", "cocoplus19", "lsp14")
_BY_COUNT = {17: "coco17", 25: "openpose25", 18: "openpose18", 19: "cocoplus19", 14: "lsp14"}


def _cocoplus(name: str) -> int:
    return COCOPLUS_NAMES.index(name)


def coco17_matrix(offsets: dict[str, dict[str, float]] | None = None) -> np.ndarray:
    """(17, 19) weights: COCO-17 keypoints from the 19 cocoplus keypoints (rows sum to 1).
    offsets: {"hip" / "shoulder": {"along": a, "out": b}} (default: the calibrated
    `COCO17_OFFSETS`; a joint left out maps to its namesake)."""
    moved = annotator_matrix(COCOPLUS_NAMES, COCO17_OFFSETS if offsets is None else offsets)
    return moved[[_cocoplus(name) for name in COCO17_NAMES]]


COCO17_MAPPINGS = ("calibrated", "namesake")


def body_matrix(layout: str, coco17_mapping: str = "calibrated") -> np.ndarray:
    """(K, 19) weights giving a fitting layout's keypoints from the cocoplus keypoints.
    layout: "coco17", "cocoplus19" or "lsp14" (OpenPose layouts are read into coco17);
    coco17_mapping: "calibrated" (`COCO17_OFFSETS`) or "namesake" (every COCO keypoint is the
    cocoplus keypoint of its name)."""
    if coco17_mapping not in COCO17_MAPPINGS:
        raise OpenHMRError(
            f"coco17 mapping: expected one of {COCO17_MAPPINGS}, got {coco17_mapping!r}"
        )
    if layout == "coco17":
        return coco17_matrix(None if coco17_mapping == "calibrated" else {})
    if layout == "cocoplus19":
        return np.eye(len(COCOPLUS_NAMES))
    if layout == "lsp14":
        return np.eye(len(COCOPLUS_NAMES))[:14]
    raise OpenHMRError(f"keypoint layout: expected coco17, cocoplus19 or lsp14, got {layout!r}")


def layout_names(layout: str) -> tuple[str, ...]:
    """The keypoint names of a fitting layout, in order."""
    if layout == "coco17":
        return COCO17_NAMES
    return COCOPLUS_NAMES[: len(body_matrix(layout))]


def read_keypoints(keypoints: np.ndarray, layout: str | None = None) -> tuple[np.ndarray, str]:
    """Check people's 2D keypoints and bring them to a fitting layout.

    keypoints: (N, K, 3) or one person's (K, 3): x, y, confidence ≥ 0 (NaN or infinite
    entries mark a missing keypoint: its confidence becomes 0); layout: one of `LAYOUTS`, or
    None to infer it from K (14, 17, 18, 19 or 25).  Returns float64 (N, K', 3) and the layout
    ("coco17", "cocoplus19" or "lsp14"; OpenPose rows are reordered into coco17).
    """
    array = np.array(keypoints, dtype=np.float64)  # a copy: missing entries are edited below
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise OpenHMRError(
            f"keypoints: expected (N, K, 3) x, y, confidence, got shape {np.shape(keypoints)}"
        )
    count = array.shape[1]
    if layout is None:
        if count not in _BY_COUNT:
            known = ", ".join(f"{k} {v}" for k, v in _BY_COUNT.items())
            raise OpenHMRError(
                f"keypoints: cannot tell the layout of {count} keypoints per person; expected "
                f"one of {known}"
            )
        layout = _BY_COUNT[count]
    if layout not in LAYOUTS:
        raise OpenHMRError(f"keypoint layout: expected one of {LAYOUTS}, got {layout!r}")
    expected = {v: k for k, v in _BY_COUNT.items()}[layout]
    if count != expected:
        raise OpenHMRError(f"keypoints: layout {layout} has {expected} keypoints, got {count}")
    missing = ~np.isfinite(array).all(axis=-1)
    array[missing] = 0.0
    if (array[..., 2] < 0).any():
        raise OpenHMRError(
            f"keypoints: confidences must be ≥ 0, found {array[..., 2].min():g} "
            "(is the third column a confidence?)"
        )
    if layout == "openpose25":
        array, layout = array[:, list(OPENPOSE25_TO_COCO17)], "coco17"
    elif layout == "openpose18":
        array, layout = array[:, list(OPENPOSE18_TO_COCO17)], "coco17"
    return array, layout
