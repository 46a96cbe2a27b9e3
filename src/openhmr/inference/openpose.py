"""OpenPose JSON keypoints -> person boxes, as the released HMR demo (`get_bbox`) does.

OpenPose writes ``{"version": …, "people": [{"pose_keypoints_2d": [x, y, c, …], …}]}`` (BODY_25
or COCO-18, flattened; versions ≥ 1.2) or, in older versions, ``"pose_keypoints"``.  Both are
read.  The released demo keeps keypoints with confidence > 0.2 and scales the person so that
the diagonal of their bounding box is 150 px in the 224 crop; here that becomes a square box of
side = that diagonal, centred on the keypoints' box, which `Predictor` crops at the same scale.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from openhmr.errors import OpenHMRError

POSE_KEYS = ("pose_keypoints_2d", "pose_keypoints")
CONFIDENCE = 0.2  # the released demo's vis_thr


def read_openpose(path: str | os.PathLike) -> list[np.ndarray]:
    """Every person's body keypoints: list of (K, 3) float64 arrays x, y, confidence."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OpenHMRError(f"{path}: not a readable OpenPose JSON file ({err})") from None
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise OpenHMRError(f"{path}: expected OpenPose JSON with a 'people' list")
    keypoints = []
    for index, person in enumerate(people):
        key = next((k for k in POSE_KEYS if isinstance(person, dict) and k in person), None)
        if key is None:
            raise OpenHMRError(f"{path}: person {index} has none of the keys {POSE_KEYS}")
        values = np.asarray(person[key], dtype=np.float64)
        if values.size == 0:
            continue
        if values.ndim != 1 or values.size % 3:
            raise OpenHMRError(
                f"{path}: person {index} {key}: expected a flat list of x, y, c triples, "
                f"got {values.size} numbers"
            )
        keypoints.append(values.reshape(-1, 3))
    return keypoints


def people_from_openpose(
    path: str | os.PathLike, confidence: float = CONFIDENCE, min_keypoints: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Square boxes (N, 4) x, y, w, h (side = the confident keypoints' box diagonal) for every
    person with at least `min_keypoints` keypoints above `confidence`, most confident person
    (mean confidence of those keypoints) first, and those people's keypoints (N, K, 3) as the
    file has them (BODY_25 or COCO-18), in the same order."""
    boxes, scores, kept = [], [], []
    for keypoints in read_openpose(path):
        visible = keypoints[keypoints[:, 2] > confidence]
        if len(visible) < min_keypoints:
            continue
        low, high = visible[:, :2].min(axis=0), visible[:, :2].max(axis=0)
        side = float(np.linalg.norm(high - low))
        if side <= 0:
            continue
        center = (low + high) / 2
        boxes.append([*(center - side / 2), side, side])
        scores.append(visible[:, 2].mean())
        kept.append(keypoints)
    if not boxes:
        raise OpenHMRError(
            f"{path}: no person with {min_keypoints} or more keypoints above confidence "
            f"{confidence}"
        )
    if len({len(k) for k in kept}) > 1:
        raise OpenHMRError(
            f"{path}: people with different keypoint counts {sorted({len(k) for k in kept})}"
        )
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.asarray(boxes, dtype=np.float64)[order], np.stack(kept)[order]


def boxes_from_openpose(
    path: str | os.PathLike, confidence: float = CONFIDENCE, min_keypoints: int = 2
) -> np.ndarray:
    """The boxes of `people_from_openpose`: (N, 4) x, y, w, h, most confident person first."""
    return people_from_openpose(path, confidence, min_keypoints)[0]
