"""Evaluation: metrics (pure functions), batched inference over a record index, the paper's
benchmark protocols, segmentation from rendered part labels, and the report (table + JSON).
See docs/evaluation.md."""

from openhmr.evaluate.baselines import mean_pose_model
from openhmr.evaluate.metrics import (
    AUC_THRESHOLDS_MM,
    PCK_THRESHOLD_MM,
    Pck2d,
    SegmentationCounts,
    auc,
    center_on_pelvis,
    head_size,
    joint_errors,
    joint_limit_violations,
    mean_error,
    pck,
    pck_2d,
    pck_curve,
    per_joint_mean,
    segmentation_counts,
    torso_size,
)
from openhmr.evaluate.predict import Predictions, crop_to_image, image_to_crop, predict_index
from openhmr.evaluate.protocols import (
    PROTOCOLS,
    EvaluationResult,
    Protocol,
    evaluate_predictions,
    get_protocol,
)
from openhmr.evaluate.refine import RefineStats, refine_predictions
from openhmr.evaluate.report import (
    build_report,
    checkpoint_identity,
    data_identity,
    format_table,
    write_report,
)
from openhmr.evaluate.segmentation import PartRenderer, read_lsp_segmentation

__all__ = [
    "AUC_THRESHOLDS_MM",
    "PCK_THRESHOLD_MM",
    "PROTOCOLS",
    "EvaluationResult",
    "PartRenderer",
    "Pck2d",
    "Predictions",
    "Protocol",
    "RefineStats",
    "SegmentationCounts",
    "auc",
    "build_report",
    "center_on_pelvis",
    "checkpoint_identity",
    "crop_to_image",
    "data_identity",
    "evaluate_predictions",
    "format_table",
    "get_protocol",
    "head_size",
    "image_to_crop",
    "joint_errors",
    "joint_limit_violations",
    "mean_error",
    "mean_pose_model",
    "pck",
    "pck_2d",
    "pck_curve",
    "per_joint_mean",
    "predict_index",
    "read_lsp_segmentation",
    "refine_predictions",
    "segmentation_counts",
    "torso_size",
    "write_report",
]
