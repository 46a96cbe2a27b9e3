"""2D keypoint and person-detection measurements on LSP-style data (pure functions).

- Ground-truth person box: the square about the centre of the visible joints' bounding box,
  side 1.2 × their longer extent (`lsp_person_boxes`).
- Limb PCK: the 12 LSP limb joints (ankles, knees, hips, wrists, elbows, shoulders; LSP
  0–11) of a COCO-17 prediction against the LSP truth, correct within α × torso size
  (`metrics.torso_size`), over visible joints of persons with a valid torso.
- Mean layout: the training set's mean joint positions in box coordinates, placed in each
  test box — what a network that ignores the image would score.
- Detection recall: the fraction of images where some detected box, made square about its
  centre with side max(w, h) (the square a crop of it covers), has IoU ≥ 0.5 with the
  ground-truth box. Both are squares, so a tall detection is not penalised for its shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openhmr.errors import OpenHMRError
from openhmr.evaluate.metrics import Pck2d, pck_2d, torso_size

# LSP's 12 limb joints (R ankle, R knee, R hip, L hip, L knee, L ankle, R wrist, R elbow,
# R shoulder, L shoulder, L elbow, L wrist) as COCO-17 indices.
COCO_FOR_LSP_LIMBS = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9)
BOX_MARGIN = 1.2


def lsp_person_boxes(keypoints: np.ndarray, margin: float = BOX_MARGIN) -> np.ndarray:
    """keypoints (N, K, 3) x, y, visibility -> square boxes (N, 4) x, y, w, h; an error when a
    person has fewer than two visible joints."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = keypoints[..., 2] > 0
    if (visible.sum(axis=1) < 2).any():
        raise OpenHMRError("person box: every person needs two visible joints")
    xy = keypoints[..., :2]
    low = np.where(visible[..., None], xy, np.inf).min(axis=1)
    high = np.where(visible[..., None], xy, -np.inf).max(axis=1)
    side = margin * (high - low).max(axis=1)
    centre = (low + high) / 2
    return np.concatenate([centre - side[:, None] / 2, side[:, None], side[:, None]], axis=1)


def limb_pck(pred: np.ndarray, truth_lsp: np.ndarray, alpha: float = 0.2) -> Pck2d:
    """PCK@alpha (torso) of the 12 limb joints: pred (N, 17, ≥2) COCO order or (N, 14, ≥2)
    LSP order, pixels; truth_lsp (N, ≥14, 3) pixels + visibility."""
    pred = np.asarray(pred, dtype=np.float64)
    pred = pred[:, list(COCO_FOR_LSP_LIMBS) if pred.shape[1] == 17 else slice(0, 12), :2]
    truth = np.asarray(truth_lsp, dtype=np.float64)
    size, ok = torso_size(truth)
    return pck_2d(pred, truth[:, :12], size, ok, alpha)


def mean_layout(train_keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The mean joint layout of `train_keypoints` (M, K, 3) in their own person boxes (visible
    joints only), placed in `boxes` (N, 4) -> (N, K, 2) pixels."""
    train = np.asarray(train_keypoints, dtype=np.float64)
    train_boxes = lsp_person_boxes(train)
    unit = (train[..., :2] - train_boxes[:, None, :2]) / train_boxes[:, None, 2:]
    visible = train[..., 2:] > 0
    layout = (unit * visible).sum(axis=0) / np.maximum(visible.sum(axis=0), 1)  # K x 2
    return boxes[:, None, :2] + layout[None] * boxes[:, None, 2:]


def square_boxes(boxes: np.ndarray) -> np.ndarray:
    """Boxes (N, 4) x, y, w, h -> the squares about their centres with side max(w, h)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    side = boxes[:, 2:].max(axis=1, keepdims=True)
    return np.concatenate([boxes[:, :2] + (boxes[:, 2:] - side) / 2, side, side], axis=1)


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) and b (M, 4), x, y, w, h -> (N, M)."""
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-12)


def detection_hits(
    detected: Sequence[np.ndarray], truth_boxes: np.ndarray, iou: float = 0.5
) -> np.ndarray:
    """Per image, whether a detected box (squared) has IoU ≥ `iou` with its ground-truth box:
    detected: one (N_i, 4) array per image; truth_boxes (I, 4) -> (I,) bool."""
    hits = []
    for boxes, truth in zip(detected, np.asarray(truth_boxes), strict=True):
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        best = box_iou_matrix(square_boxes(boxes), truth[None]).max() if len(boxes) else 0.0
        hits.append(best >= iou)
    return np.array(hits, dtype=bool)
