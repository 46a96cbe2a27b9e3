"""Refined predictions for the evaluation protocols: each row's prediction fitted to 2D keypoints
(`openhmr.fit`), in the index's own crop, so every protocol scores them unchanged.

Keypoints come per row in full-image pixels: a pose network's (a keypoint source run on the
row's image and box, `keypoints_from_source`), a file, or the index's own 2D truth
(`truth_keypoints`, optionally with pixel noise) to check the machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from openhmr.body.model import BodyModel
from openhmr.data.dataset import read_image
from openhmr.data.records import RecordIndex
from openhmr.errors import OpenHMRError
from openhmr.evaluate.predict import Predictions, image_to_crop
from openhmr.fit import FitConfig, fit_keypoints, read_keypoints
from openhmr.fit.guides import FitGuides, PoseEvidence, evidence_in_crops
from openhmr.fit.sources import KeypointSource
from openhmr.geometry.camera import weak_perspective_project
from openhmr.model.discriminator import Discriminator

GUIDE_FIELDS = tuple(f.name for f in fields(FitGuides))  # world, world_weights, mask


@dataclass(frozen=True)
class RefineStats:
    """Per row: error, initial_error (N,) the fit's confidence-weighted mean keypoint distance
    after / before, in image pixels; refined (N,) bool (False: the prediction was kept);
    iterations (N,); keypoints_used (N,); seconds: the fitting's wall time."""

    error: np.ndarray
    initial_error: np.ndarray
    refined: np.ndarray
    iterations: np.ndarray
    keypoints_used: np.ndarray
    seconds: float

    def summary(self) -> dict[str, float]:
        """Medians and shares over the rows, for reports."""
        fitted = self.refined
        return {
            "rows": len(self.refined),
            "refined_share": float(fitted.mean()) if len(fitted) else 0.0,
            "median_error_px": float(np.nanmedian(self.error)) if len(fitted) else float("nan"),
            "median_initial_error_px": float(np.nanmedian(self.initial_error))
            if len(fitted)
            else float("nan"),
            "mean_iterations": float(self.iterations[fitted].mean()) if fitted.any() else 0.0,
            "seconds": self.seconds,
        }


def person_boxes(index: RecordIndex) -> np.ndarray:
    """(N, 4) x, y, w, h person boxes of an index's rows: the crop box (side 200 · scale)
    shrunk to the ~150 px of 224 a person fills, as `Predictor` boxes are."""
    side = 200.0 * np.asarray(index.scale, np.float64) * 150.0 / 224.0
    corner = np.asarray(index.center, np.float64) - side[:, None] / 2
    return np.concatenate([corner, side[:, None], side[:, None]], axis=1)


def truth_keypoints(
    index: RecordIndex, noise_px: float = 0.0, seed: int = 0, joints: int = 19
) -> np.ndarray:
    """The index's own 2D keypoints (N, joints, 3) (cocoplus; visibility as confidence), with
    optional Gaussian noise of `noise_px` pixels per coordinate (seeded)."""
    keypoints = np.array(index.keypoints2d[:, :joints], dtype=np.float64)
    if noise_px > 0:
        rng = np.random.default_rng(seed)
        keypoints[..., :2] += rng.normal(0.0, noise_px, keypoints[..., :2].shape)
    return keypoints


def keypoints_from_source(
    index: RecordIndex, source: KeypointSource, progress: bool = False
) -> np.ndarray:
    """Run a keypoint source on every row's image and person box (rows sharing an image are
    passed together).  Returns (N, K, 3) image pixels."""
    return evidence_from_source(index, source, progress)[0]


def evidence_from_source(
    index: RecordIndex, source: KeypointSource, progress: bool = False
) -> tuple[np.ndarray, FitGuides | None]:
    """Run a keypoint source on every row's image and person box (rows sharing an image are
    passed together).  Returns keypoints (N, K, 3) image pixels and, when the source gives
    `PoseEvidence`, its world landmarks and masks in each row's evaluation crop (`FitGuides`,
    masks at `MASK_SIZE`²), else None."""
    boxes = person_boxes(index)
    names = np.asarray(index.imgname).astype(str)
    groups: dict[str, list[int]] = {}
    for row, name in enumerate(names):
        groups.setdefault(name, []).append(row)
    parts: dict[str, list] = {field: [] for field in ("keypoints", *GUIDE_FIELDS)}
    order: list[int] = []
    side = 200.0 * np.asarray(index.scale, np.float64)
    centre = np.asarray(index.center, np.float64)
    for name, rows in tqdm(groups.items(), desc="keypoints", unit="image", disable=not progress):
        found = source(read_image(index.image_root / name), boxes[rows])
        evidence = found if isinstance(found, PoseEvidence) else PoseEvidence(np.asarray(found))
        keypoints = np.asarray(evidence.keypoints, np.float64)
        if keypoints.ndim != 3 or keypoints.shape[0] != len(rows) or keypoints.shape[-1] != 3:
            raise OpenHMRError(
                f"keypoint source: expected ({len(rows)}, K, 3) for {name}, got {keypoints.shape}"
            )
        guides = evidence_in_crops(evidence, centre[rows], side[rows])
        parts["keypoints"].append(keypoints)
        for field in GUIDE_FIELDS:
            parts[field].append(getattr(guides, field))
        order.extend(rows)
    back = np.argsort(np.asarray(order, dtype=np.int64))

    def gather(field: str) -> np.ndarray | None:
        if not parts[field] or any(p is None for p in parts[field]):
            return None
        return np.concatenate(parts[field])[back]

    keypoints = gather("keypoints")
    if keypoints is None:
        raise OpenHMRError("keypoint source: the index has no rows")
    world, mask = gather("world"), gather("mask")
    if world is None and mask is None:
        return keypoints, None
    weights = gather("world_weights") if world is not None else None
    return keypoints, FitGuides(world, weights, mask)


def refine_predictions(
    predictions: Predictions,
    index: RecordIndex,
    keypoints: np.ndarray,
    body_model: BodyModel,
    *,
    layout: str | None = None,
    discriminator: Discriminator | None = None,
    config: FitConfig | None = None,
    batch_size: int = 64,
    progress: bool = False,
    guides: FitGuides | None = None,
) -> tuple[Predictions, RefineStats]:
    """Fit every row's prediction to its keypoints ((N, K, 3) image pixels, any layout of
    `openhmr.fit.keypoints`) in the row's evaluation crop, with `guides` (N rows, that crop's
    frame: `evidence_from_source`) for the 3D and silhouette terms.  Returns the refined
    predictions (the same fields and keypoint set, so every protocol applies) and per-row
    `RefineStats`."""
    import time

    if len(predictions) != len(index):
        raise OpenHMRError(f"{len(predictions)} predictions for an index of {len(index)} rows")
    keypoints, layout = read_keypoints(keypoints, layout)
    if len(keypoints) != len(index):
        raise OpenHMRError(f"{len(keypoints)} rows of keypoints for an index of {len(index)} rows")
    crop = keypoints.copy()
    crop[..., :2] = image_to_crop(keypoints[..., :2], index.center, index.scale)
    half_side = 100.0 * np.asarray(index.scale, np.float64)  # crop units -> pixels
    fields: dict[str, list[np.ndarray]] = {
        k: [] for k in ("camera", "pose", "betas", "keypoints3d", "keypoints2d")
    }
    stats: dict[str, list[np.ndarray]] = {
        k: [] for k in ("error", "initial_error", "refined", "iterations", "keypoints_used")
    }
    start = time.perf_counter()
    rows = range(0, len(index), batch_size)
    for first in tqdm(rows, desc="fit", unit="batch", disable=not progress):
        part = slice(first, first + batch_size)
        result = fit_keypoints(
            body_model,
            torch.from_numpy(predictions.camera[part]),
            torch.from_numpy(predictions.pose[part]),
            torch.from_numpy(predictions.betas[part]),
            crop[part],
            layout=layout,
            discriminator=discriminator,
            config=config,
            guides=None if guides is None else slice_guides(guides, part),
        )
        with torch.no_grad():
            keypoints3d = body_model(pose=result.rotations, betas=result.betas).keypoints
            posed = {
                "keypoints3d": keypoints3d,
                "keypoints2d": weak_perspective_project(keypoints3d, result.camera),
            }
        for name in fields:
            value = posed[name] if name in posed else getattr(result, name)
            fields[name].append(value.detach().cpu().float().numpy())
        for name in stats:
            stats[name].append(getattr(result, name).detach().cpu().numpy())
    seconds = time.perf_counter() - start
    merged = {k: np.concatenate(v) for k, v in fields.items()}
    refined = replace(predictions, **merged, keypoint_names=tuple(body_model.keypoint_names))
    gathered = {k: np.concatenate(v) for k, v in stats.items()}
    for name in ("error", "initial_error"):
        gathered[name] = gathered[name] * half_side
    return refined, RefineStats(**gathered, seconds=seconds)


def slice_guides(guides: FitGuides, rows: slice | np.ndarray) -> FitGuides:
    """The guides of some rows."""

    def take(value: np.ndarray | None) -> np.ndarray | None:
        return None if value is None else np.asarray(value)[rows]

    return FitGuides(**{field: take(getattr(guides, field)) for field in GUIDE_FIELDS})


def save_evidence(path: Path, keypoints: np.ndarray, guides: FitGuides | None) -> None:
    """keypoints (and the guides' world, world_weights, mask) as one .npz, atomically."""
    from openhmr.files import atomic_path

    arrays = {"keypoints": keypoints}
    if guides is not None:
        for field in GUIDE_FIELDS:
            if getattr(guides, field) is not None:
                arrays[field] = getattr(guides, field)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


REFINE_SOURCES = ("truth", "movenet", "blazepose", "blazepose-full")


def index_evidence(
    index: RecordIndex,
    source: str,
    noise_px: float = 0.0,
    seed: int = 0,
    rows: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, FitGuides | None]:
    """Keypoints (N, K, 3) in image pixels for an index's rows, and guides in each row's crop
    (or None), by name: "truth" (the index's own cocoplus keypoints, plus `noise_px` Gaussian
    noise), "movenet" (MoveNet Thunder, `openhmr.fit.sources`), "blazepose" / "blazepose-full"
    (`blazepose_source`, heavy / full: Thunder's keypoints, BlazePose's world landmarks and
    masks) or a `.npz` file with ``keypoints`` (R, K, 3) for the index's rows in order, and
    optionally ``world``, ``world_weights``, ``mask`` (`save_evidence`; R ≥ N: the first N
    are used, as with ``--limit``)."""
    from openhmr.fit.sources import keypoint_source

    if source == "truth":
        return truth_keypoints(index, noise_px, seed), None
    if noise_px:
        raise OpenHMRError("keypoint noise applies to the index's own keypoints (truth) only")
    if source in ("movenet", "blazepose", "blazepose-full"):
        return evidence_from_source(index, keypoint_source(source), progress)
    path = Path(source)
    if path.suffix != ".npz" or not path.is_file():
        raise OpenHMRError(
            f"refine keypoints: expected one of {', '.join(REFINE_SOURCES)} or an existing .npz "
            f"file, got {source!r}"
        )
    with np.load(path) as data:
        if "keypoints" not in data:
            raise OpenHMRError(f"{path}: expected an array 'keypoints' (rows, K, 3)")
        arrays = {k: np.asarray(data[k]) for k in ("keypoints", *GUIDE_FIELDS) if k in data}
    keypoints = np.asarray(arrays.pop("keypoints"), np.float64)
    count = len(index) if rows is None else rows
    if len(keypoints) < count:
        raise OpenHMRError(f"{path}: {len(keypoints)} rows of keypoints for {count} index rows")
    guides = None
    if arrays:
        guides = slice_guides(FitGuides(**arrays), slice(0, count))
        guides.check(count)
    return keypoints[:count], guides
