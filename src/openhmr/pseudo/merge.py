"""A finished pseudo-label run merged into its split's record index: the fitted θ, β as
`pose` / `betas` with `has_smpl` where the fit is good, the fitted body's LSP-14 joints as
`joints3d` (validity the same flag), and each row's quality as extras."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from openhmr.data.records import RecordIndex
from openhmr.errors import OpenHMRError
from openhmr.pseudo.run import MANIFEST, read_chunks


@dataclass(frozen=True)
class PseudoLabelFilter:
    """Which fits count as labels.  max_error: the fit's confidence-weighted mean distance to
    its 2D targets, as a fraction of the person box's side (200 · scale px); min_keypoints: 2D
    targets the fit used (confidence ≥ the fit's floor); world: BlazePose's landmarks must have
    been there (its pose flag passed), so the label's depth came from evidence, not the prior."""

    max_error: float = 0.04
    min_keypoints: int = 10
    world: bool = True


def quality(fits: dict[str, np.ndarray], index: RecordIndex) -> dict[str, np.ndarray]:
    """Per row: error_fraction (the fit's error over the box side), world (landmarks
    present), refined, keypoints_used."""
    side = 200.0 * np.asarray(index.scale, np.float64)
    return {
        "error_fraction": np.asarray(fits["error"], np.float64) / side,
        "world": np.asarray(fits["world_weights"]).sum(axis=1) > 0,
        "refined": np.asarray(fits["refined"], bool),
        "keypoints_used": np.asarray(fits["keypoints_used"]),
    }


def good_rows(measures: dict[str, np.ndarray], keep: PseudoLabelFilter) -> np.ndarray:
    """(N,) bool: the rows whose fit `keep` accepts."""
    good = measures["refined"] & (measures["keypoints_used"] >= keep.min_keypoints)
    good &= np.nan_to_num(measures["error_fraction"], nan=np.inf) <= keep.max_error
    if keep.world:
        good &= measures["world"]
    return good


def merge_pseudo_labels(
    index: RecordIndex, run: str | Path, keep: PseudoLabelFilter | None = None
) -> RecordIndex:
    """`index` with the run's fits as labels (rows in order; the run must cover them all):
    pose (N, 72), betas (N, 10), has_smpl (N,) = the filter's verdict, joints3d (N, 14, 4) the
    fitted body's LSP-14 keypoints, pelvis-centred (mean of the hips), camera axes, validity =
    the verdict; extras pseudo_error_fraction, pseudo_world, pseudo_refined, pseudo_good."""
    keep = keep or PseudoLabelFilter()
    fits = read_chunks(run, rows=len(index))
    if len(fits["rows"]) != len(index):
        raise OpenHMRError(f"{run}: {len(fits['rows'])} fits for an index of {len(index)} rows")
    measures = quality(fits, index)
    good = good_rows(measures, keep)
    keypoints = np.asarray(fits["keypoints3d"], np.float64)[:, :14]
    joints = keypoints - keypoints[:, [2, 3]].mean(axis=1, keepdims=True)
    joints3d = np.concatenate([joints, good[:, None, None].repeat(14, 1)], axis=2)
    extras = {
        **index.extras,
        "pseudo_error_fraction": measures["error_fraction"].astype(np.float32),
        "pseudo_world": measures["world"],
        "pseudo_refined": measures["refined"],
        "pseudo_good": good,
    }
    meta = {
        **index.meta,
        "pseudo_labels": {
            "run": str(run),
            "manifest": json.loads((Path(run) / MANIFEST).read_text()),
            "filter": keep.__dict__,
            "good": int(good.sum()),
            "rows": len(index),
        },
    }
    return replace(
        index,
        pose=np.asarray(fits["pose"], np.float32).reshape(len(index), 72),
        betas=np.asarray(fits["betas"], np.float32),
        has_smpl=good,
        joints3d=joints3d.astype(np.float32),
        extras=extras,
        meta=meta,
    )
