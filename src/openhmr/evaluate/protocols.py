"""Benchmark protocols: which data, joint set, alignment and metrics each paper table uses.

Every protocol evaluates the 14 LSP-order joints (`Predictions.joints3d`) against the index's
`joints3d` (metres, pelvis-centred, with a validity column) and/or the 14 LSP keypoints in
full-image pixels, on crops from the index's ground-truth boxes (no augmentation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from openhmr.body.keypoints import COCOPLUS_NAMES
from openhmr.body.model import BodyModel
from openhmr.body.parts import PART_NAMES
from openhmr.data.records import RecordIndex
from openhmr.errors import OpenHMRError
from openhmr.evaluate import metrics
from openhmr.evaluate.predict import Predictions, crop_to_image
from openhmr.evaluate.segmentation import (
    NUM_PART_CLASSES,
    UPI_S1H_PART_ORDER,
    PartRenderer,
    read_label_image,
    read_lsp_segmentation,
)

JOINT_NAMES: tuple[str, ...] = COCOPLUS_NAMES[:14]
PCK2D_TORSO_ALPHA = 0.2
PCKH_ALPHA = 0.5
RENDER_BATCH = 64


@dataclass(frozen=True)
class Protocol:
    """name; description; data: what to pass as --data; metrics3d: () or a subset of
    ("pelvis", "procrustes") alignments with the 3D metrics reported for each;
    pck2d: report 2D PCK; segmentation: None, "lsp" (UPi-S1h files) or "synthetic";
    root_orientation: report the root orientation's error where the index has SMPL truth."""

    name: str
    description: str
    data: str
    metrics3d: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pck2d: bool = False
    segmentation: str | None = None
    root_orientation: bool = False

    @property
    def needs_3d(self) -> bool:
        return bool(self.metrics3d)


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "h36m-p1",
            "Human3.6M protocol 1: S9 and S11, all cameras; MPJPE and PA-MPJPE",
            "h36m_valid_protocol1.npz from `openhmr convert spin`",
            {"pelvis": ("mpjpe",), "procrustes": ("mpjpe",)},
        ),
        Protocol(
            "h36m-p2",
            "Human3.6M protocol 2: S9 and S11, frontal camera; PA-MPJPE",
            "h36m_valid_protocol2.npz from `openhmr convert spin`",
            {"procrustes": ("mpjpe",)},
        ),
        Protocol(
            "3dhp",
            "MPI-INF-3DHP test set (2,929 valid frames): PCK@150 mm, AUC, MPJPE, "
            "without and with Procrustes alignment",
            "3dhp_test.npz from `openhmr convert 3dhp-test`",
            {"pelvis": ("pck", "auc", "mpjpe"), "procrustes": ("pck", "auc", "mpjpe")},
        ),
        Protocol(
            "3dpw",
            "3DPW test set: MPJPE and PA-MPJPE",
            "3dpw_test.npz from `openhmr convert 3dpw`",
            {"pelvis": ("mpjpe",), "procrustes": ("mpjpe",)},
        ),
        Protocol(
            "lsp-seg",
            "LSP test set with UPi-S1h segmentations: foreground and 6-part accuracy / F1 "
            "(and 2D PCK)",
            "lsp_test.npz from `openhmr convert lsp`, with --segmentation UPI_S1H_DIR",
            pck2d=True,
            segmentation="lsp",
        ),
        Protocol(
            "synthetic",
            "a synthetic split with exact truth: 3D (both alignments), the root orientation, "
            "2D PCK, and segmentation when parts/ exists",
            "synth.npz from `openhmr synth` (--parts for segmentation)",
            {"pelvis": ("pck", "auc", "mpjpe"), "procrustes": ("pck", "auc", "mpjpe")},
            pck2d=True,
            segmentation="synthetic",
            root_orientation=True,
        ),
        Protocol(
            "keypoints2d",
            "any index with 2D keypoints (e.g. LSP, LSP-extended): PCK@0.2 torso, PCKh@0.5",
            "any record index",
            pck2d=True,
        ),
    )
}


@dataclass(frozen=True)
class EvaluationResult:
    """metrics: name -> value (mm for errors, % for PCK/AUC/accuracy, [0, 1] for F1);
    per_joint: table name -> 14 values in JOINT_NAMES order; per_class: table -> part -> F1;
    counts: rows, joints, pixels evaluated; definitions: metric name -> exact definition;
    notes: anything skipped and why."""

    protocol: str
    metrics: dict[str, float]
    per_joint: dict[str, list[float]]
    per_class: dict[str, dict[str, float]]
    counts: dict[str, int]
    definitions: dict[str, str]
    notes: list[str]


def get_protocol(name: str) -> Protocol:
    """The protocol called `name`, or a one-line error listing the known ones."""
    if name not in PROTOCOLS:
        raise OpenHMRError(f"unknown protocol {name!r}; expected one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def check_index(protocol: Protocol, index: RecordIndex, source: str = "") -> None:
    """Refuse an index that lacks what the protocol needs (3D joints)."""
    if protocol.needs_3d and not index.has_3d:
        where = f"{source}: " if source else ""
        raise OpenHMRError(
            f"{where}protocol {protocol.name} needs 3D joints, but the index has no 'joints3d'"
        )


_PREFIX = {"pelvis": "", "procrustes": "pa_"}
_DEFINITIONS = {
    "mpjpe": "mean per-joint position error over the 14 LSP joints, mm, after centring both "
    "skeletons on the mid-hip (mean of LSP joints 2 and 3)",
    "pa_mpjpe": "mean per-joint position error, mm, after a similarity Procrustes alignment "
    "(rotation without reflection, uniform scale, translation) of the prediction to the truth",
    "pck150": "% of valid joints with error <= 150 mm (mid-hip aligned)",
    "auc": "mean of PCK (%) over thresholds 0, 5, ..., 150 mm (31 values), mid-hip aligned",
    "pa_pck150": "% of valid joints with error <= 150 mm after Procrustes alignment",
    "pa_auc": "AUC as above after Procrustes alignment",
    "root_error_deg": "median geodesic angle (degrees) between the predicted and the true "
    "global (root) orientation, over the rows with SMPL truth (which way the body faces)",
    "root_within_45": "% of the rows with SMPL truth whose root orientation is within 45°",
    "pck2d_torso@0.2": "% of visible ground-truth LSP keypoints within 0.2 x torso size "
    "(right shoulder to left hip distance, both visible) of the prediction, in image pixels",
    "pckh@0.5": "% of visible ground-truth LSP keypoints within 0.5 x head size (neck to head "
    "top distance, both visible), in image pixels",
    "fg_accuracy": "% of the full image's pixels whose foreground/background label is right",
    "fg_f1": "mean of the background and foreground F1 scores (pooled pixel counts)",
    "parts_accuracy": "% of the full image's pixels with the right label among background + "
    "6 parts (pixels without annotation count as background)",
    "parts_f1": "mean F1 over the 7 classes (background + 6 parts), pooled pixel counts, "
    "unannotated pixels excluded",
}


def _evaluate_3d(
    protocol: Protocol, predictions: Predictions, index: RecordIndex, result: dict
) -> None:
    truth = torch.as_tensor(index.joints3d[..., :3], dtype=torch.float64)
    valid = torch.as_tensor(index.joints3d[..., 3] > 0)
    pred = torch.as_tensor(predictions.joints3d, dtype=torch.float64)
    mask = valid.numpy()
    result["counts"]["joints3d"] = int(mask.sum())
    for alignment, reported in protocol.metrics3d.items():
        errors = metrics.joint_errors(pred, truth, alignment, valid).numpy() * 1000.0  # mm
        prefix = _PREFIX[alignment]
        if "mpjpe" in reported:
            result["metrics"][f"{prefix}mpjpe"] = metrics.mean_error(errors, mask)
            result["per_joint"][f"{prefix}mpjpe"] = metrics.per_joint_mean(errors, mask)
        if "pck" in reported:
            result["metrics"][f"{prefix}pck150"] = 100 * metrics.pck(
                errors, metrics.PCK_THRESHOLD_MM, mask
            )
            hits = np.where(mask, errors <= metrics.PCK_THRESHOLD_MM, False)
            result["per_joint"][f"{prefix}pck150"] = 100 * metrics.per_joint_mean(hits, mask)
        if "auc" in reported:
            result["metrics"][f"{prefix}auc"] = 100 * metrics.auc(
                errors, metrics.AUC_THRESHOLDS_MM, mask
            )
    has_smpl = index.pose is not None and index.has_smpl is not None and bool(index.has_smpl.any())
    if protocol.root_orientation and has_smpl:
        rows = np.flatnonzero(index.has_smpl)
        angles = metrics.root_orientation_errors(predictions.pose[rows], index.pose[rows, :3])
        result["metrics"]["root_error_deg"] = float(np.median(angles))
        result["metrics"]["root_within_45"] = 100 * float((angles < 45.0).mean())


def _evaluate_2d(predictions: Predictions, index: RecordIndex, result: dict) -> None:
    pred = crop_to_image(predictions.joints2d_normalized, index.center, index.scale)
    truth = index.keypoints2d[:, :14]
    for name, (size, ok), alpha in (
        ("pck2d_torso@0.2", metrics.torso_size(truth), PCK2D_TORSO_ALPHA),
        ("pckh@0.5", metrics.head_size(truth), PCKH_ALPHA),
    ):
        score = metrics.pck_2d(pred, truth, size, ok, alpha)
        result["counts"][f"{name}_persons"] = score.persons
        result["counts"][f"{name}_keypoints"] = int(score.counted.sum())
        if score.counted.any():
            result["metrics"][name] = 100 * score.value
            result["per_joint"][name] = 100 * score.per_joint
        else:
            result["notes"].append(f"{name}: no person with a valid reference size")


def _synthetic_parts(index: RecordIndex, root: Path | None) -> list[Path] | None:
    folder = root if root is not None else index.image_root.parent / "parts"
    paths = [folder / (Path(str(name)).stem + ".png") for name in index.imgname]
    return paths if all(p.is_file() for p in paths) else None


def _evaluate_segmentation(
    protocol: Protocol,
    predictions: Predictions,
    index: RecordIndex,
    body_model: BodyModel | None,
    segmentation_dir: str | os.PathLike | None,
    part_order: tuple[str, ...],
    progress: bool,
    result: dict,
) -> None:
    root = Path(segmentation_dir) if segmentation_dir is not None else None
    if protocol.segmentation == "lsp":
        if root is None:
            raise OpenHMRError("protocol lsp-seg needs --segmentation DIR (UPi-S1h annotations)")
        if not root.is_dir():
            raise OpenHMRError(f"--segmentation: no such folder {root}")
        synthetic_paths = None
    else:
        synthetic_paths = _synthetic_parts(index, root)
        if synthetic_paths is None:
            result["notes"].append(
                "segmentation skipped: no part map for every row (generate with "
                "`openhmr synth --parts`)"
            )
            return
    if body_model is None:
        raise OpenHMRError("segmentation needs the body model the predictions came from")
    renderer = PartRenderer(body_model)
    foreground = metrics.empty_counts(2)
    parts = metrics.empty_counts(NUM_PART_CLASSES)
    bar = tqdm(total=len(index), desc="segmentation", unit="image", disable=not progress)
    for start in range(0, len(index), RENDER_BATCH):
        rows = range(start, min(start + RENDER_BATCH, len(index)))
        vertices = renderer.vertices(predictions.pose[rows], predictions.betas[rows])
        for k, row in enumerate(rows):
            if synthetic_paths is not None:
                true_parts = read_label_image(synthetic_paths[row])
                if true_parts.max() >= NUM_PART_CLASSES:
                    raise OpenHMRError(f"{synthetic_paths[row]}: labels must lie in 0..6")
                true_fg = (true_parts > 0).astype(np.uint8)
            else:
                true_fg, true_parts = read_lsp_segmentation(root, index.imgname[row], part_order)
            predicted = renderer.render_weak_perspective(
                vertices[k],
                predictions.camera[row],
                index.center[row],
                float(index.scale[row]),
                true_parts.shape,
            )
            foreground = foreground + metrics.segmentation_counts(
                (predicted > 0).astype(np.uint8), true_fg, 2, ignore_label=None
            )
            parts = parts + metrics.segmentation_counts(predicted, true_parts, NUM_PART_CLASSES)
            bar.update(1)
    bar.close()
    result["metrics"]["fg_accuracy"] = 100 * foreground.accuracy
    result["metrics"]["fg_f1"] = foreground.macro_f1
    result["metrics"]["parts_accuracy"] = 100 * parts.accuracy
    result["metrics"]["parts_f1"] = parts.macro_f1
    result["per_class"]["parts_f1"] = dict(
        zip(("background", *PART_NAMES), parts.f1_per_class.tolist(), strict=True)
    )
    result["counts"]["pixels"] = parts.total
    result["counts"]["pixels_unannotated"] = parts.total - int(parts.confusion.sum())


def evaluate_predictions(
    protocol: str | Protocol,
    predictions: Predictions,
    index: RecordIndex,
    *,
    body_model: BodyModel | None = None,
    segmentation_dir: str | os.PathLike | None = None,
    part_order: tuple[str, ...] = UPI_S1H_PART_ORDER,
    progress: bool = False,
) -> EvaluationResult:
    """Score `predictions` (one per index row, in order) under a protocol.

    body_model: needed for segmentation (the predicted meshes are re-posed from θ, β);
    segmentation_dir: UPi-S1h root for lsp-seg, or a parts folder overriding a synthetic
    split's `parts/`; part_order: the part order of the UPi-S1h part files.
    """
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    check_index(protocol, index)
    if len(predictions) != len(index):
        raise OpenHMRError(f"{len(predictions)} predictions for an index of {len(index)} rows")
    result: dict = {
        "metrics": {},
        "per_joint": {},
        "per_class": {},
        "counts": {"rows": len(index)},
        "notes": [],
    }
    if protocol.needs_3d:
        _evaluate_3d(protocol, predictions, index, result)
    if protocol.pck2d:
        _evaluate_2d(predictions, index, result)
    if protocol.segmentation is not None:
        _evaluate_segmentation(
            protocol,
            predictions,
            index,
            body_model,
            segmentation_dir,
            part_order,
            progress,
            result,
        )
    return EvaluationResult(
        protocol=protocol.name,
        metrics={k: float(v) for k, v in result["metrics"].items()},
        per_joint={k: [float(x) for x in v] for k, v in result["per_joint"].items()},
        per_class=result["per_class"],
        counts=result["counts"],
        definitions={k: _DEFINITIONS[k] for k in result["metrics"]},
        notes=result["notes"],
    )
