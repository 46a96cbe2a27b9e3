"""Evaluation metrics as pure, batched functions (no state, no I/O).

3D joints are (B, J, 3) in metres; every reported distance is converted to millimetres by the
caller (`openhmr.evaluate.protocols`). Conventions, stated once:

- pelvis alignment: both skeletons are translated so that their pelvis (the mean of the two
  hips, LSP joints 2 and 3) is at the origin; then the per-joint Euclidean distance;
- Procrustes alignment: the prediction is mapped onto the ground truth by the best similarity
  transform (rotation without reflection, uniform scale, translation; least squares over the
  valid joints), then the per-joint distance;
- PCK at threshold τ: the fraction of valid joints whose error is ≤ τ;
- AUC: the mean of PCK over the thresholds 0, 5, …, 150 mm (31 values), i.e. the normalised
  area under the PCK curve, as MPI-INF-3DHP reports it;
- 2D PCK: a visible ground-truth keypoint is correct when the predicted one lies within
  α × the person's reference size (torso or head, see `torso_size`, `head_size`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from openhmr.body.limits import JOINT_LIMITS
from openhmr.errors import OpenHMRError
from openhmr.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    procrustes_align,
    procrustes_transform,
    rotation_angle,
)

PELVIS_JOINTS = (2, 3)  # LSP right hip, left hip
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.linspace(0.0, 150.0, 31)
ALIGNMENTS = ("pelvis", "procrustes")

# LSP-14 indices used by the 2D reference sizes
RIGHT_SHOULDER, LEFT_HIP, NECK, HEAD_TOP = 8, 3, 12, 13


def _check_joints(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise OpenHMRError(
            f"expected predicted and true joints of equal shape (B, J, 3), got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )


def center_on_pelvis(joints: torch.Tensor) -> torch.Tensor:
    """Translate LSP-order joints so the mid-hip is the origin. (B, J, 3) -> (B, J, 3)."""
    pelvis = joints[:, list(PELVIS_JOINTS)].mean(dim=1, keepdim=True)  # B x 1 x 3
    return joints - pelvis


def _procrustes_masked(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Procrustes-align pred onto target, fitting on each row's valid joints only. Rows are
    grouped by their validity pattern so each group is one batched solve."""
    aligned = pred.clone()
    patterns, group = torch.unique(valid, dim=0, return_inverse=True)
    for k, pattern in enumerate(patterns):
        rows = torch.nonzero(group == k).squeeze(1)
        cols = torch.nonzero(pattern).squeeze(1)
        if len(cols) < 3:  # too few joints to fit a rotation: leave the row unaligned
            continue
        transform = procrustes_transform(pred[rows][:, cols], target[rows][:, cols])
        aligned[rows] = transform.apply(pred[rows])
    return aligned


def joint_errors(
    pred: torch.Tensor,
    target: torch.Tensor,
    alignment: str = "pelvis",
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-joint Euclidean distances after an alignment.

    pred, target: (B, J, 3) LSP-order joints (J ≥ 4), same units; alignment: "pelvis"
    (both centred on the mid-hip) or "procrustes" (similarity transform of pred onto target,
    fitted on the valid joints); valid: optional (B, J) bool.  Returns (B, J) float64.
    """
    _check_joints(pred, target)
    pred, target = pred.double(), target.double()
    if alignment == "pelvis":
        pred, target = center_on_pelvis(pred), center_on_pelvis(target)
    elif alignment == "procrustes":
        if valid is None or bool(valid.all()):
            pred = procrustes_align(pred, target)
        else:
            pred = _procrustes_masked(pred, target, valid.bool())
    else:
        raise OpenHMRError(f"unknown alignment {alignment!r}; expected one of {ALIGNMENTS}")
    return torch.linalg.vector_norm(pred - target, dim=-1)  # B x J


def joint_limit_violations(pose: np.ndarray, margin: float = 0.3) -> dict[str, float]:
    """How far poses bend past the documented joint limits (`openhmr.body.limits`).

    pose: (N, 24, 3) axis-angle; margin: radians added on both sides of every limit.  Each
    non-root rotation is first brought to its canonical axis-angle (angle ≤ π: a vector of norm
    2π is the identity, not a violation).  Returns ``joints_outside_share``: the share of the
    N × 23 joint rotations with some component outside its widened limits, and
    ``mean_excess_rad``: their mean summed excess (0 when none is outside).
    """
    pose = np.asarray(pose, dtype=np.float64).reshape(-1, 24, 3)
    low, high = JOINT_LIMITS[1:, :, 0] - margin, JOINT_LIMITS[1:, :, 1] + margin
    canonical = matrix_to_axis_angle(axis_angle_to_matrix(torch.from_numpy(pose)))
    body = canonical.numpy()[:, 1:]
    excess = np.maximum(low - body, 0) + np.maximum(body - high, 0)  # N x 23 x 3
    outside = excess.max(axis=2) > 0
    return {
        "joints_outside_share": float(outside.mean()),
        "mean_excess_rad": float(excess.sum(axis=2)[outside].mean()) if outside.any() else 0.0,
    }


def root_orientation_errors(pred_pose: np.ndarray, true_root: np.ndarray) -> np.ndarray:
    """pred_pose (N, 24, 3) or (N, ≥3) axis-angle with the root first, true_root (N, 3)
    axis-angle -> (N,) geodesic angle between the two global orientations, degrees."""
    pred = np.asarray(pred_pose, dtype=np.float64).reshape(len(pred_pose), -1)[:, :3]
    pred_rot = axis_angle_to_matrix(torch.as_tensor(pred))
    true_rot = axis_angle_to_matrix(torch.as_tensor(np.asarray(true_root, dtype=np.float64)))
    return torch.rad2deg(rotation_angle(pred_rot, true_rot)).numpy()


def _valid_mask(errors: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    return np.ones(errors.shape, bool) if valid is None else np.asarray(valid, bool)


def mean_error(errors: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean over valid entries of errors (B, J) (MPJPE when errors are pelvis-aligned).
    Every valid joint weighs the same."""
    errors = np.asarray(errors, dtype=np.float64)
    mask = _valid_mask(errors, valid)
    if not mask.any():
        raise OpenHMRError("no valid joints to average")
    return float(errors[mask].mean())


def per_joint_mean(errors: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Mean error of each joint over the rows where it is valid. (B, J) -> (J,) (NaN where
    a joint is never valid)."""
    errors = np.asarray(errors, dtype=np.float64)
    mask = _valid_mask(errors, valid)
    counts = mask.sum(axis=0)
    sums = np.where(mask, errors, 0.0).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def pck_curve(
    errors: np.ndarray, thresholds: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """Fraction of valid joints with error ≤ each threshold. errors (B, J), thresholds (T,)
    in the same unit -> (T,) in [0, 1]."""
    errors = np.asarray(errors, dtype=np.float64)
    mask = _valid_mask(errors, valid)
    if not mask.any():
        raise OpenHMRError("no valid joints for PCK")
    hits = errors[mask][None, :] <= np.asarray(thresholds, dtype=np.float64)[:, None]  # T x N
    return hits.mean(axis=1)


def pck(errors: np.ndarray, threshold: float, valid: np.ndarray | None = None) -> float:
    """Fraction of valid joints with error ≤ threshold (a scalar in [0, 1])."""
    return float(pck_curve(errors, np.array([threshold]), valid)[0])


def auc(
    errors: np.ndarray,
    thresholds: np.ndarray = AUC_THRESHOLDS_MM,
    valid: np.ndarray | None = None,
) -> float:
    """Normalised area under the PCK curve: the mean of PCK over `thresholds` (default
    0…150 mm in 31 steps, MPI-INF-3DHP's AUC). In [0, 1]."""
    return float(pck_curve(errors, thresholds, valid).mean())


def torso_size(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LSP torso size: distance between the right shoulder (LSP 8) and the left hip (LSP 3).

    keypoints: (B, K ≥ 14, 3) x, y, visibility in LSP order.  Returns sizes (B,) and a (B,)
    bool that is True where both joints are visible and the size is positive.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    size = np.linalg.norm(keypoints[:, RIGHT_SHOULDER, :2] - keypoints[:, LEFT_HIP, :2], axis=-1)
    ok = (keypoints[:, RIGHT_SHOULDER, 2] > 0) & (keypoints[:, LEFT_HIP, 2] > 0) & (size > 0)
    return size, ok


def head_size(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Head size: distance between the neck (LSP 12) and the head top (LSP 13).

    keypoints: (B, K ≥ 14, 3).  Returns sizes (B,) and a (B,) bool as in `torso_size`.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    size = np.linalg.norm(keypoints[:, NECK, :2] - keypoints[:, HEAD_TOP, :2], axis=-1)
    ok = (keypoints[:, NECK, 2] > 0) & (keypoints[:, HEAD_TOP, 2] > 0) & (size > 0)
    return size, ok


@dataclass(frozen=True)
class Pck2d:
    """2D PCK over a set of persons. correct, counted: (B, J) bool (counted: visible joint of
    a person with a valid reference size); value: correct / counted over all of them."""

    correct: np.ndarray
    counted: np.ndarray

    @property
    def value(self) -> float:
        total = int(self.counted.sum())
        return float("nan") if total == 0 else float(self.correct.sum() / total)

    @property
    def per_joint(self) -> np.ndarray:
        counts = self.counted.sum(axis=0)
        return np.where(counts > 0, self.correct.sum(axis=0) / np.maximum(counts, 1), np.nan)

    @property
    def persons(self) -> int:
        return int(self.counted.any(axis=1).sum())


def pck_2d(
    pred: np.ndarray,
    target: np.ndarray,
    reference: np.ndarray,
    reference_ok: np.ndarray,
    alpha: float,
) -> Pck2d:
    """2D PCK: a visible ground-truth keypoint counts when its person's reference size is
    valid; it is correct when ||pred − target|| ≤ alpha · reference.

    pred: (B, J, 2) pixels; target: (B, J, 3) pixels + visibility; reference: (B,) pixels;
    reference_ok: (B,) bool.
    """
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape[:2] != target.shape[:2] or pred.shape[-1] != 2 or target.shape[-1] != 3:
        raise OpenHMRError(
            f"pck_2d: expected pred (B, J, 2) and target (B, J, 3), got {pred.shape}, "
            f"{target.shape}"
        )
    distance = np.linalg.norm(pred - target[..., :2], axis=-1)  # B x J
    counted = (target[..., 2] > 0) & np.asarray(reference_ok, bool)[:, None]
    correct = counted & (distance <= alpha * np.asarray(reference)[:, None])
    return Pck2d(correct=correct, counted=counted)


@dataclass(frozen=True)
class SegmentationCounts:
    """Pixel counts of one or many label images.

    confusion: (C, C) int64, rows = ground truth, columns = prediction, over the pixels whose
    ground truth is not the ignore label; ignored_as_background: ignored pixels predicted as
    background (0); total: every pixel of the evaluated region, ignored ones included.
    """

    confusion: np.ndarray
    ignored_as_background: int
    total: int

    def __add__(self, other: SegmentationCounts) -> SegmentationCounts:
        return SegmentationCounts(
            self.confusion + other.confusion,
            self.ignored_as_background + other.ignored_as_background,
            self.total + other.total,
        )

    @property
    def accuracy(self) -> float:
        """Correct pixels / all pixels; an ignored pixel counts as background (UP-3D's and
        SPIN's convention)."""
        if self.total == 0:
            return float("nan")
        return float((np.trace(self.confusion) + self.ignored_as_background) / self.total)

    @property
    def f1_per_class(self) -> np.ndarray:
        """2 TP / (2 TP + FP + FN) per class, from the pooled counts. (C,) (NaN if absent)."""
        tp = np.diag(self.confusion).astype(np.float64)
        fp = self.confusion.sum(axis=0) - tp
        fn = self.confusion.sum(axis=1) - tp
        denominator = 2 * tp + fp + fn
        return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), np.nan)

    @property
    def macro_f1(self) -> float:
        """Mean of the per-class F1 over all classes, background included."""
        return float(np.nanmean(self.f1_per_class))


def segmentation_counts(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_label: int | None = 255
) -> SegmentationCounts:
    """Count one label image pair. pred, target: (H, W) integer labels in [0, num_classes)
    (target may hold `ignore_label`). Vectorised with one bincount."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise OpenHMRError(
            f"segmentation: predicted {pred.shape} and true {target.shape} label images differ"
        )
    ignored = np.zeros(target.shape, bool) if ignore_label is None else target == ignore_label
    p, t = pred[~ignored].astype(np.int64), target[~ignored].astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= num_classes or p.min() < 0 or p.max() >= num_classes):
        raise OpenHMRError(
            f"segmentation: labels must lie in [0, {num_classes}), found ground truth "
            f"{t.min()}..{t.max()} and prediction {p.min()}..{p.max()}"
        )
    confusion = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return SegmentationCounts(
        confusion=confusion.reshape(num_classes, num_classes),
        ignored_as_background=int((pred[ignored] == 0).sum()),
        total=int(target.size),
    )


def empty_counts(num_classes: int) -> SegmentationCounts:
    """Zero counts to start an accumulation."""
    return SegmentationCounts(np.zeros((num_classes, num_classes), np.int64), 0, 0)
